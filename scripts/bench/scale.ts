// Scale benchmark (root): `up` of a fresh nspawn cluster with 1 control plane + 1, 2 and 4 workers
// (down between), each timed from the process start to every node Ready (the run's timings.json,
// as bench:up reads it) and to the end of the whole `up --no-smoke` (addons and NetworkPolicy
// enforcers included). Ends with one line:
//   scale-bench t1=X t2=Y t4=Z ratio4to1=R total1=A total4=B total_ratio4to1=Q
// R near 1 means workers converge in parallel (the target is R <= 1.3). Each run also prints the CPU
// the whole machine spent until every node was Ready and that divided by the cores: the floor.

import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { keepLogs } from './failed-up.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cli = path.join(root, 'scripts/bin/kubelab.mjs')
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-bench-scale-'))
const name = 'h5bench'
const config = path.join(work, 'cluster.config.yaml')
// Benchmarks run with egress off (no uplink to this host) unless the caller says otherwise.
const env = { KUBELAB_EGRESS: 'off', ...process.env, KUBELAB_STATE: path.join(work, 'state'), CI: '1' }
const kubelab = (...args: string[]) => execFileSync(process.execPath, [cli, ...args, '-c', config], { env, stdio: ['ignore', 'ignore', 'inherit'] })

/** CPU seconds this machine has spent (every process, /proc/stat), for the CPU floor of a run. */
function cpuSeconds(): number {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)
  const [user, nice, system, , , irq, softirq, steal] = f.map(Number)
  return (user! + nice! + system! + irq! + softirq! + steal!) / 100
}

const cores = availableParallelism()

/**
 * Seconds from the process start to every node Ready, and to the end of `up`; and the CPU the
 * whole machine spent until Ready (sampled every 100 ms while `up` runs), whose share per core is
 * the floor no scheduling can go below on this machine.
 */
async function timeUp(workers: number): Promise<{ ready: number; total: number; cpuToReady: number }> {
  writeFileSync(config, JSON.stringify({
    name,
    provider: { type: 'nspawn', network: '10.87.0.0/24' },
    nodes: [{ name: 'control-plane', role: 'control-plane' }, ...Array.from({ length: workers }, (_, i) => ({ name: `worker-${i + 1}`, role: 'worker' }))],
  }))
  const t0 = performance.now()
  const wall0 = Date.now()
  const samples: [number, number][] = [[wall0, cpuSeconds()]]
  const sampler = setInterval(() => samples.push([Date.now(), cpuSeconds()]), 100)
  try {
    await new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, [cli, 'up', '--no-smoke', '-c', config], { env, stdio: ['ignore', 'ignore', 'inherit'] })
      p.on('error', reject)
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kubelab up exited ${code}`))))
    })
    clearInterval(sampler)
    const total = (performance.now() - t0) / 1000
    const timings = JSON.parse(readFileSync(path.join(work, 'state', name, 'timings.json'), 'utf8')) as { startedAt: string; entries: { phase: string; offsetMs: number; durationMs: number }[] }
    const readyInside = Math.max(...timings.entries.filter((e) => e.phase === 'node:ready').map((e) => e.offsetMs + e.durationMs))
    const readyAt = Date.parse(timings.startedAt) + readyInside
    const atReady = samples.filter(([at]) => at <= readyAt).at(-1)![1]
    return { ready: (readyAt - wall0) / 1000, total, cpuToReady: atReady - samples[0]![1] }
  } catch (err) {
    keepLogs(path.join(work, 'state'), name)
    throw err
  } finally {
    clearInterval(sampler)
    kubelab('down')
  }
}

try {
  const t: Record<number, { ready: number; total: number; cpuToReady: number }> = {}
  for (const n of [1, 2, 4]) {
    t[n] = await timeUp(n)
    console.log(`1 control plane + ${n} worker${n === 1 ? '' : 's'}: ${t[n]!.ready.toFixed(1)}s to every node Ready, ${t[n]!.total.toFixed(1)}s the whole up; `
      + `${t[n]!.cpuToReady.toFixed(1)} CPU-s until Ready (all processes): at least ${(t[n]!.cpuToReady / cores).toFixed(1)}s on ${cores} cores`)
  }
  console.log(`cpu-floor ready4=${t[4]!.ready.toFixed(1)} floor4=${(t[4]!.cpuToReady / cores).toFixed(1)} cpu1=${t[1]!.cpuToReady.toFixed(1)} cpu4=${t[4]!.cpuToReady.toFixed(1)} cores=${cores}`)
  const r = (n: number) => t[n]!.ready.toFixed(1)
  console.log(`scale-bench t1=${r(1)} t2=${r(2)} t4=${r(4)} ratio4to1=${(t[4]!.ready / t[1]!.ready).toFixed(2)} total1=${t[1]!.total.toFixed(1)} total4=${t[4]!.total.toFixed(1)} total_ratio4to1=${(t[4]!.total / t[1]!.total).toFixed(2)}`)
} finally {
  try { kubelab('down') } catch { /* reported above */ }
  rmSync(work, { recursive: true, force: true })
}
