// Artifacts benchmark: warm-cache resolve time of the default set (must make no network request),
// and upload time of the full set to 3 nspawn nodes in parallel vs to 1 node (the Runner over
// each machine's UNIX socket; needs root).
//
//   npm run bench:artifacts [-- -c cluster.config.yaml] [--runs N]
//
// Prints one line: artifacts-bench warm_resolve_ms=X upload3_vs_1=R

import path from 'node:path'
import { parseArgs } from 'node:util'
import { HttpClient } from '../lib/artifacts/fetch.ts'
import { resolveArtifacts } from '../lib/artifacts/resolve.ts'
import { loadConfig } from '../lib/config/load.ts'
import { Progress } from '../lib/log/progress.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { parseConfig } from '../lib/config/load.ts'
import { remotePathFor, uploadAll } from '../lib/artifacts/upload.ts'
import { cacheDir as defaultCacheDir } from '../lib/artifacts/cache.ts'
import { NspawnProvider } from '../lib/providers/nspawn/provider.ts'
import { runnerFor } from '../lib/remote/machine.ts'

const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' }, runs: { type: 'string' } } })
const quiet = new Progress({ sink: { write: () => true } })
const config = loadConfig(path.resolve(values.config ?? 'cluster.config.yaml')).config
const runs = Number(values.runs ?? 5)
const progress = new Progress({ sink: process.stderr, interactive: false })

// Warm-up: fills the cache if it is cold (that run may use the network; it is not measured).
const warm = new HttpClient()
await resolveArtifacts(config, { progress, http: warm })
if (warm.requests) process.stderr.write(`warm-up made ${warm.requests} requests (cache was cold)\n`)

const times: number[] = []
let files = 0
let bytes = 0
for (let i = 0; i < runs; i++) {
  const http = new HttpClient()
  const started = performance.now()
  const artifacts = await resolveArtifacts(config, { progress, http })
  times.push(performance.now() - started)
  if (http.requests !== 0) {
    process.stderr.write(`FAIL: a warm resolve made ${http.requests} network requests\n`)
    process.exit(1)
  }
  files = artifacts.length
  bytes = artifacts.reduce((s, a) => s + a.size, 0)
}
times.sort((a, b) => a - b)
const median = times[Math.floor(times.length / 2)]!
process.stderr.write(`resolved ${files} files (${(bytes / 1048576).toFixed(0)} MiB) ${runs}x from the warm cache; 0 requests; min ${times[0]!.toFixed(1)}ms max ${times.at(-1)!.toFixed(1)}ms\n`)

// Upload: the full set to 1 node, then (files removed again) to 3 nodes at once.
const artifacts = await resolveArtifacts(config, { progress: quiet })
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-bench-artifacts-'))
const text = 'name: benchup\nprovider: {type: nspawn, network: 10.81.0.0/24}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n  - {name: w2, role: worker}\n'
const lab = parseConfig(text, { file: path.join(work, 'c.yaml'), env: { KUBELAB_EGRESS: 'off' } }).config
const stateDir = path.join(work, 'state')
const provider = new NspawnProvider({ config: lab, stateDir, cacheDir: defaultCacheDir(), progress: quiet })
let ratio = 'n/a'
try {
  const machines = await provider.ensure(lab.nodes)
  const nodes = await Promise.all(machines.map(async (m) => ({ name: m.name, role: 'worker' as const, runner: await runnerFor(m, stateDir) })))
  const time = async (targets: typeof nodes) => {
    const t0 = performance.now()
    const results = await uploadAll(targets, artifacts, 4 * targets.length)
    if (results.some((r) => r.result !== 'sent')) throw new Error('expected every file to be sent')
    return (performance.now() - t0) / 1000
  }
  const one = await time(nodes.slice(0, 1))
  const remotes = artifacts.flatMap((a) => { const r = remotePathFor(a, 'worker'); return r ? [r] : [] })
  await nodes[0]!.runner.$`rm -f ${remotes}`
  const three = await time(nodes)
  const mib = artifacts.filter((a) => remotePathFor(a, 'worker')).reduce((s, a) => s + a.size, 0) / 1048576
  process.stderr.write(`upload ${mib.toFixed(0)} MiB per node: 1 node ${one.toFixed(2)}s, 3 nodes in parallel ${three.toFixed(2)}s\n`)
  ratio = (three / one).toFixed(2)
  for (const n of nodes) n.runner.close()
} finally {
  await provider.destroy()
  rmSync(work, { recursive: true, force: true })
}
process.stdout.write(`artifacts-bench warm_resolve_ms=${median.toFixed(1)} upload3_vs_1=${ratio}\n`)
