// `up` benchmark (root): the default config on fresh machines to every node Ready, then a second
// `up`. Prints the phase breakdown from timings.json and ends with one line:
//   up-bench ready_s=X total_s=Y rerun_s=Z overhead=R
// ready_s: process start to the last node Ready; total_s: the whole `up` (CoreDNS included).
// overhead = time inside `up` to the last node Ready / the critical path of waits for upstream
// components, measured in the same run as three wall-clock spans: the machines booting; the
// control plane coming up (first control-plane service started -> kube-controller-manager signing
// CSRs, etcd and the API server included); and the slowest node joining (kubelet started -> Node
// Ready: CSR signed, Node registered, serving certificate, kube-proxy synced). What is left is
// kubelab's own work and scheduling: uploads, configs, images, checks, and waiting on each other.

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { keepLogs } from './failed-up.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cli = path.join(root, 'scripts/bin/kubelab.mjs')
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-bench-up-'))
const name = 'benchup'
const config = path.join(work, 'cluster.config.yaml')
const base = parse(readFileSync(path.join(root, 'cluster.config.yaml'), 'utf8')) as Record<string, unknown>
writeFileSync(config, JSON.stringify({ ...base, name, provider: { type: 'nspawn', network: '10.84.0.0/24' } }))
// Benchmarks run with egress off (no uplink to this host) unless the caller says otherwise.
const env = { KUBELAB_EGRESS: 'off', ...process.env, KUBELAB_STATE: path.join(work, 'state'), CI: '1' }
const kubelab = (...args: string[]) => execFileSync(process.execPath, [cli, ...args, '-c', config], { env, stdio: ['ignore', 'ignore', 'inherit'] })

interface Entry { phase: string; node?: string; durationMs: number; offsetMs: number }
const s = (ms: number) => (ms / 1000).toFixed(1)
let finished = false
try {
  const t0 = performance.now()
  const wall0 = Date.now()
  kubelab('up', '--no-smoke')
  const total = (performance.now() - t0) / 1000
  const timings = JSON.parse(readFileSync(path.join(work, 'state', name, 'timings.json'), 'utf8')) as { startedAt: string; totalMs: number; entries: Entry[] }
  const t1 = performance.now()
  kubelab('up', '--no-smoke')
  const rerun = (performance.now() - t1) / 1000

  const of = (phase: string) => timings.entries.filter((e) => e.phase === phase)
  const start = (phase: string) => Math.min(...of(phase).map((e) => e.offsetMs))
  const end = (phase: string) => Math.max(...of(phase).map((e) => e.offsetMs + e.durationMs))
  console.log('phase (each node: start +duration, seconds from the start of up)')
  for (const phase of [...new Set(timings.entries.map((e) => e.phase))]) {
    console.log(`  ${phase.padEnd(24)} ${of(phase).map((e) => `${e.node ?? 'host'} ${s(e.offsetMs)}+${s(e.durationMs)}`).join('  ')}`)
  }
  const machines = end('machines') - start('machines')
  const controlPlane = end('cp:controller-manager') - Math.min(start('cp:etcd'), start('cp:apiserver'))
  const nodeNames = [...new Set(of('kubelet:config').map((e) => e.node))]
  const join = Math.max(...nodeNames.map((n) => {
    const at = (phase: string) => timings.entries.find((e) => e.phase === phase && e.node === n)
    const k = at('kubelet:config')!, r = at('node:ready')!
    return r.offsetMs + r.durationMs - k.offsetMs
  }))
  const critical = machines + controlPlane + join
  const readyInside = end('node:ready')
  const ready = (Date.parse(timings.startedAt) - wall0) / 1000 + readyInside / 1000
  console.log(`critical path ${s(critical)}s = machines ${s(machines)} + control plane up ${s(controlPlane)} + slowest join ${s(join)}; last node Ready ${s(readyInside)}s into up`)
  console.log(`up-bench ready_s=${ready.toFixed(1)} total_s=${total.toFixed(1)} rerun_s=${rerun.toFixed(1)} overhead=${(readyInside / critical).toFixed(2)}`)
  finished = true
} finally {
  if (!finished) keepLogs(path.join(work, 'state'), name)
  try { kubelab('down') } catch { /* reported above */ }
  rmSync(work, { recursive: true, force: true })
}
