// Scale benchmark (root): `up` of a fresh nspawn cluster with 1 control plane + 1, 2 and 4 workers
// (down between), each timed to every node Ready. Ends with one line:
//   scale-bench t1=X t2=Y t4=Z ratio4to1=R
// R near 1 means workers converge in parallel (the target is R <= 1.3).

import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cli = path.join(root, 'scripts/bin/kubelab.mjs')
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-bench-scale-'))
const name = 'h5bench'
const config = path.join(work, 'cluster.config.yaml')
// Benchmarks run with egress off (no uplink to this host) unless the caller says otherwise.
const env = { KUBELAB_EGRESS: 'off', ...process.env, KUBELAB_STATE: path.join(work, 'state'), CI: '1' }
const kubelab = (...args: string[]) => execFileSync(process.execPath, [cli, ...args, '-c', config], { env, stdio: ['ignore', 'ignore', 'inherit'] })

function timeUp(workers: number): number {
  writeFileSync(config, JSON.stringify({
    name,
    provider: { type: 'nspawn', network: '10.87.0.0/24' },
    nodes: [{ name: 'control-plane', role: 'control-plane' }, ...Array.from({ length: workers }, (_, i) => ({ name: `worker-${i + 1}`, role: 'worker' }))],
  }))
  const t0 = performance.now()
  try {
    kubelab('up', '--no-smoke')
    return (performance.now() - t0) / 1000
  } finally {
    kubelab('down')
  }
}

try {
  const t: Record<number, number> = {}
  for (const n of [1, 2, 4]) {
    t[n] = timeUp(n)
    console.log(`1 control plane + ${n} worker${n === 1 ? '' : 's'}: ${t[n]!.toFixed(1)}s to every node Ready`)
  }
  console.log(`scale-bench t1=${t[1]!.toFixed(1)} t2=${t[2]!.toFixed(1)} t4=${t[4]!.toFixed(1)} ratio4to1=${(t[4]! / t[1]!).toFixed(2)}`)
} finally {
  try { kubelab('down') } catch { /* reported above */ }
  rmSync(work, { recursive: true, force: true })
}
