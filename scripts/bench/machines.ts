// Machines benchmark: time until 3 nspawn machines and 1 QEMU VM (TCG here, KVM where usable)
// answer kubelab's SSH with systemd up, with a cold image cache (the image is built first) and a
// warm one. Needs root.
//
//   npm run bench:machines            (add --warm-only to skip the cold runs, ~2 min)
//
// Ends with one line: machines-bench nspawn3_s=X qemu1_s=Y  (warm figures)

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { parseConfig } from '../lib/config/load.ts'
import { Progress } from '../lib/log/progress.ts'
import { cacheDir as defaultCacheDir } from '../lib/artifacts/cache.ts'
import { NspawnProvider } from '../lib/providers/nspawn/provider.ts'
import { QemuProvider } from '../lib/providers/qemu/provider.ts'
import type { Provider, ProviderContext } from '../lib/providers/types.ts'

const { values } = parseArgs({ options: { 'warm-only': { type: 'boolean', default: false } } })
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-bench-machines-'))
const progress = new Progress({ sink: process.stderr, interactive: false })

function context(name: string, type: 'nspawn' | 'qemu', cacheDir: string): ProviderContext {
  const text = `name: ${name}\nprovider: {type: ${type}, network: 10.80.0.0/24}\nnodes:\n  - {name: cp, role: control-plane, cpus: 1, memory: 1GiB}\n  - {name: w1, role: worker, cpus: 1, memory: 1GiB}\n  - {name: w2, role: worker, cpus: 1, memory: 1GiB}\n`
  const { config } = parseConfig(text, { file: path.join(work, `${name}.yaml`), env: { KUBELAB_EGRESS: 'off' } })
  return { config, stateDir: path.join(work, 'state', name), cacheDir, progress }
}

/** Seconds from nothing to `count` machines SSH-ready, then everything removed again. */
async function measure(make: (ctx: ProviderContext) => Provider, ctx: ProviderContext, count: number): Promise<number> {
  const provider = make(ctx)
  const started = performance.now()
  try {
    await provider.ensure(ctx.config.nodes.slice(0, count))
    return (performance.now() - started) / 1000
  } finally {
    await provider.destroy()
  }
}

const nspawn = (ctx: ProviderContext) => new NspawnProvider(ctx)
const qemu = (ctx: ProviderContext) => new QemuProvider(ctx, { rootless: false })
const rows: string[] = []
try {
  if (!values['warm-only']) {
    const cold = path.join(work, 'cold-cache')
    const n = await measure(nspawn, context('bnc', 'nspawn', cold), 3)
    const q = await measure(qemu, context('bqc', 'qemu', cold), 1)
    rows.push(`cold image cache: nspawn3 ${n.toFixed(1)}s, qemu1 ${q.toFixed(1)}s (each includes building its image)`)
  }
  const warmN = await measure(nspawn, context('bnw', 'nspawn', defaultCacheDir()), 3)
  const warmQ = await measure(qemu, context('bqw', 'qemu', defaultCacheDir()), 1)
  const accel = new QemuProvider(context('bqa', 'qemu', defaultCacheDir()), { rootless: false }).accel
  rows.push(`warm image cache: nspawn3 ${warmN.toFixed(1)}s, qemu1 ${warmQ.toFixed(1)}s (QEMU accel: ${accel})`)
  for (const r of rows) console.log(r)
  console.log(`machines-bench nspawn3_s=${warmN.toFixed(1)} qemu1_s=${warmQ.toFixed(1)}`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
