// `up` benchmark (root): the default config on fresh machines to every node Ready, then a second
// `up`. Prints the phase breakdown from timings.json and ends with one line:
//   up-bench ready_s=X rerun_s=Y overhead=Z
// overhead = total up time / the critical path of waits no tool can avoid, measured in the same
// run: machine boot + API server becoming ready + the slowest node's registration (join).

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cli = path.join(root, 'scripts/bin/kubelab.mjs')
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-bench-up-'))
const name = 'benchup'
const config = path.join(work, 'cluster.config.yaml')
const base = parse(readFileSync(path.join(root, 'cluster.config.yaml'), 'utf8')) as Record<string, unknown>
writeFileSync(config, JSON.stringify({ ...base, name, provider: { type: 'nspawn', network: '10.84.0.0/24' } }))
const env = { ...process.env, KUBELAB_STATE: path.join(work, 'state'), CI: '1' }
const kubelab = (...args: string[]) => execFileSync(process.execPath, [cli, ...args, '-c', config], { env, stdio: ['ignore', 'ignore', 'inherit'] })

interface Entry { phase: string; node?: string; durationMs: number; offsetMs: number }
try {
  let t0 = performance.now()
  kubelab('up', '--no-smoke')
  const ready = (performance.now() - t0) / 1000
  const timings = JSON.parse(readFileSync(path.join(work, 'state', name, 'timings.json'), 'utf8')) as { totalMs: number; entries: Entry[] }
  t0 = performance.now()
  kubelab('up', '--no-smoke')
  const rerun = (performance.now() - t0) / 1000

  const byPhase = new Map<string, number>()
  for (const e of timings.entries) byPhase.set(e.phase, Math.max(byPhase.get(e.phase) ?? 0, e.durationMs))
  console.log('phase (slowest node)            seconds')
  for (const [phase, ms] of byPhase) console.log(`  ${phase.padEnd(30)} ${(ms / 1000).toFixed(2)}`)
  const critical = (byPhase.get('machines') ?? 0) + (byPhase.get('cp:apiserver') ?? 0) + (byPhase.get('join:node') ?? 0)
  console.log(`total ${(timings.totalMs / 1000).toFixed(1)}s inside up, ${ready.toFixed(1)}s with process start; critical path ${(critical / 1000).toFixed(1)}s`)
  console.log(`up-bench ready_s=${ready.toFixed(1)} rerun_s=${rerun.toFixed(1)} overhead=${(timings.totalMs / critical).toFixed(2)}`)
} finally {
  try { kubelab('down') } catch { /* reported above */ }
  rmSync(work, { recursive: true, force: true })
}
