// `kubelab conformance [--mode quick|lite|certified] [--focus RE] [--skip RE] [--junit FILE] [-o DIR]`: the
// upstream conformance tests (e2e.test, built from Go modules on first use) against the cluster,
// run inside its lab network namespace, after every test image e2e.test names is on every node
// (built here, lib/conformance/images.ts; `--no-images` skips that, `--images-only` stops after
// it). DIR gets e2e.log and junit_01.xml; --json prints a summary.

import { copyFileSync, existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { cacheDir } from '../lib/artifacts/cache.ts'
import { hostArch } from '../lib/artifacts/lock.ts'
import { resolveArtifacts } from '../lib/artifacts/resolve.ts'
import { withClusterLock } from '../lib/cluster.ts'
import { ensureConformanceImages, listE2eImages, type ConformanceImages } from '../lib/conformance/images.ts'
import { UsageError } from '../lib/errors.ts'
import { defaultTimeout, e2eArgs, parseMode, selection, summarizeJunit, type JunitSummary } from '../lib/conformance/modes.ts'
import { ensureE2eBinaries, runE2e } from '../lib/conformance/run.ts'
import { imageArtifact } from '../lib/images/workloads.ts'
import { closeNodes, openNodes } from '../lib/node/open.ts'
import { openClusterFor, printJson, type CommandContext, type FlagDecls, type FlagValues } from './context.ts'

export const conformanceFlags = {
  mode: { type: 'string', arg: 'MODE', help: 'quick | lite | certified (default quick)' },
  focus: { type: 'string', arg: 'REGEX', help: 'run the tests matching REGEX instead of the mode\'s' },
  skip: { type: 'string', arg: 'REGEX', help: 'leave out the tests matching REGEX (ginkgo --skip)' },
  junit: { type: 'string', arg: 'FILE', help: 'write the JUnit report to FILE' },
  output: { type: 'string', short: 'o', arg: 'DIR', help: 'the report directory: e2e.log, junit_01.xml (default kubelab-conformance-<cluster>-<time>)' },
  'no-images': { type: 'boolean', help: 'do not build or import the test images (they are on the nodes already)' },
  'images-only': { type: 'boolean', help: 'build and import the test images on every node, run no test' },
} as const satisfies FlagDecls

export async function conformanceCommand(ctx: CommandContext, args: string[], flags: FlagValues<typeof conformanceFlags>): Promise<number> {
  if (args.length) throw new UsageError(`conformance takes no arguments, got: ${args.join(' ')}`, { hint: 'kubelab conformance --mode quick|lite|certified [--focus RE]' })
  const mode = parseMode(flags.mode)
  const sel = selection(mode, flags.focus, flags.skip)
  if (flags.noImages && flags.imagesOnly) throw new UsageError('--no-images and --images-only exclude each other')
  const cluster = openClusterFor(ctx)
  const { config, provider, stateDir } = cluster
  const cp = (await provider.list()).find((m) => m.role === 'control-plane')
  if (!cp || cp.state !== 'running') throw new UsageError(`the control plane of "${config.name}" is not running; run: npx kubelab up`)
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  const dir = path.resolve(flags.output ?? `kubelab-conformance-${config.name}-${stamp}`)

  const cache = cacheDir(ctx.env)
  const { e2e } = await ensureE2eBinaries(config.kubernetes.version, { cache, progress: ctx.progress })
  const artifacts = await resolveArtifacts(config, { progress: ctx.progress })
  const kubectl = artifacts.find((a) => a.file === 'kubectl')?.path
  let images: ConformanceImages | undefined
  if (!flags.noImages) {
    const refs = await listE2eImages(e2e)
    const coredns = imageArtifact(artifacts, 'coredns')
    images = await withClusterLock(cluster, 'conformance images', async () => {
      const nodes = await openNodes(config, await provider.list(), stateDir, ctx.progress)
      try {
        return await ensureConformanceImages({ refs, kubernetesVersion: config.kubernetes.version, cache, arch: hostArch(), nodes, progress: ctx.progress, ...(coredns ? { coredns } : {}) })
      } finally {
        closeNodes(nodes)
      }
    })
  }
  if (flags.imagesOnly) {
    const summary = {
      built: images!.built.map((b) => ({ ref: b.ref, digest: b.digest, tar: b.tar })),
      aliases: images!.plan.images.flatMap((p) => p.aliases),
      unbuildable: images!.plan.unbuildable,
    }
    if (ctx.options.json) printJson(ctx, summary)
    else ctx.out(`${summary.built.length} test images on every node of ${config.name}; not built: ${summary.unbuildable.length} (${summary.unbuildable.filter((u) => u.conformance).length} of them used by [Conformance] tests)`)
    return 0
  }
  const timeout = defaultTimeout(mode, flags.focus !== undefined)
  const started = Date.now()
  const run = await ctx.progress.step(`Running conformance (${flags.focus !== undefined ? `focus ${flags.focus}` : mode}) against ${config.name}`,
    () => runE2e({
      config, stateDir, controlPlane: cp, e2e, logFile: path.join(dir, 'e2e.log'), progress: ctx.progress,
      args: (kubeconfig) => e2eArgs({ kubeconfig, reportDir: dir, selection: sel, timeout, ...(kubectl ? { kubectl } : {}) }),
    }),
    (r) => `exit ${r.exitCode}`)
  const junit = path.join(dir, 'junit_01.xml')
  let summary: JunitSummary | undefined
  if (existsSync(junit)) {
    summary = summarizeJunit(readFileSync(junit, 'utf8'))
    if (flags.junit) copyFileSync(junit, path.resolve(flags.junit))
  } else {
    ctx.progress.warn(`e2e.test wrote no ${junit}; its output is in ${path.join(dir, 'e2e.log')}`)
  }
  const result = {
    ok: run.exitCode === 0,
    mode,
    focus: sel.focus,
    exitCode: run.exitCode,
    durationMs: Date.now() - started,
    where: run.where,
    dir,
    junit: existsSync(junit) ? junit : null,
    ...(summary ? { passed: summary.passed, failed: summary.failed, skipped: summary.skipped } : {}),
  }
  if (ctx.options.json) printJson(ctx, result)
  else {
    if (summary) {
      for (const t of summary.passed) ctx.out(`PASS ${t}`)
      for (const t of summary.failed) ctx.out(`FAIL ${t}`)
    }
    ctx.out(`${result.ok ? 'conformance passed' : `conformance failed (e2e.test exit ${run.exitCode})`}: ${summary ? `${summary.passed.length} passed, ${summary.failed.length} failed` : 'no report'}; log and report in ${dir}`)
  }
  return result.ok ? 0 : 1
}
