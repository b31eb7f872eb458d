// Artifacts benchmark: warm-cache resolve time of the default set (must make no network request),
// and upload time of the full set to 3 nodes in parallel vs 1 node. The upload half needs the ssh2
// Runner (scripts/lib/remote/), which has not landed: it prints `pending` until then.
//
//   npx tsx scripts/bench/artifacts.ts [-c cluster.config.yaml] [--runs N]
//
// Prints one line: artifacts-bench warm_resolve_ms=X upload3_vs_1=pending

import path from 'node:path'
import { parseArgs } from 'node:util'
import { HttpClient } from '../lib/artifacts/fetch.ts'
import { resolveArtifacts } from '../lib/artifacts/resolve.ts'
import { loadConfig } from '../lib/config/load.ts'
import { Progress } from '../lib/log/progress.ts'

const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' }, runs: { type: 'string' } } })
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
process.stdout.write(`artifacts-bench warm_resolve_ms=${median.toFixed(1)} upload3_vs_1=pending\n`)
