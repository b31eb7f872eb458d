// `kubelab smoke [--junit FILE] [--json] [--keep]`: the smoke suite against the live cluster, its
// reports (JUnit, --json, timings.json) and, when a check fails, a logs bundle for CI. `up` runs
// the same suite at its end unless --no-smoke.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { type CommandError, UsageError } from '../lib/errors.ts'
import { host } from '../lib/host/exec.ts'
import { TESTBOX_IMAGE } from '../lib/images/workloads.ts'
import { writeLogsBundle } from '../lib/logs/bundle.ts'
import { labNames, netnsExists } from '../lib/providers/common/network.ts'
import { CHECKS } from '../lib/smoke/checks/index.ts'
import { Fixtures } from '../lib/smoke/fixtures.ts'
import { junitXml } from '../lib/smoke/junit.ts'
import { Kube } from '../lib/smoke/kube.ts'
import { runSmoke } from '../lib/smoke/suite.ts'
import type { CheckResult, SmokeContext } from '../lib/smoke/types.ts'
import { closeNodes, openNodes } from '../lib/steps/nodes.ts'
import type { NodeHandle } from '../lib/steps/types.ts'
import { hostKubectlSetup } from './cluster.ts'
import { printJson, type CommandContext, type CommandFlags } from './context.ts'
import { clusterLock, openCluster, type Opened } from './machines.ts'

export interface SmokeOutcome {
  results: CheckResult[]
  failed: number
  junit?: string
  logs?: string
}

/** Appends the checks to the cluster's timings.json (as `smoke:<id>` phases). */
function addTimings(stateDir: string, results: readonly CheckResult[]): void {
  const file = path.join(stateDir, 'timings.json')
  if (!existsSync(file)) return
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { startedAt: string; totalMs: number; entries: { phase: string; offsetMs: number; durationMs: number }[] }
  const t0 = Date.parse(doc.startedAt)
  doc.entries = [...doc.entries.filter((e) => !e.phase.startsWith('smoke:')), ...results.map((r) => ({ phase: `smoke:${r.id}`, offsetMs: r.startedAt - t0, durationMs: r.durationMs, ok: r.ok }))]
  doc.totalMs = Math.max(doc.totalMs, ...doc.entries.map((e) => e.offsetMs + e.durationMs))
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`)
}

/** The suite on an opened cluster (the caller holds the cluster lock). */
export async function smoke(ctx: CommandContext, opened: Opened, flags: CommandFlags): Promise<SmokeOutcome> {
  const { config, provider, stateDir } = opened
  if (config.controlPlane.mode !== 'managed') {
    throw new UsageError('the smoke suite needs admin access to the cluster: run it with the config that brings up the control plane')
  }
  const { kubectl, kubeconfig } = await hostKubectlSetup(opened, ctx.progress)
  const kube = new Kube(kubectl, kubeconfig)
  const open = async () => openNodes(config, (await provider.list()).filter((m) => m.state === 'running'), stateDir, ctx.progress)
  let nodes: NodeHandle[] = await open()
  const lab = labNames(config.name).lab
  const sctx: SmokeContext = {
    config, kube, nodes, provider, stateDir, progress: ctx.progress,
    fx: new Fixtures(kube, config.smoke?.image ?? TESTBOX_IMAGE),
    // Software-emulated VMs run everything several times slower: so may every wait.
    timeScale: provider.info().emulatedCpu ? 4 : 1,
    ...(netnsExists(lab) ? { labExec: async (argv: readonly string[]) => {
      try {
        const r = await host`ip netns exec ${lab} ${argv}`
        return { code: 0, stdout: r.stdout, stderr: r.stderr }
      } catch (err) {
        const r = (err as CommandError).result
        return { code: r?.exitCode ?? 1, stdout: r?.stdout ?? '', stderr: r?.stderr ?? String(err) }
      }
    } } : {}),
    async reopenNodes() {
      closeNodes(nodes)
      nodes = await open()
      sctx.nodes = nodes
    },
    say: () => undefined,
  }
  const startedAt = new Date()
  ctx.progress.info(`Smoke suite: ${CHECKS.length} checks against ${config.name}`)
  try {
    const results = await runSmoke(sctx, CHECKS, { keep: flags.keep ?? false, progress: ctx.progress })
    const failed = results.filter((r) => !r.ok).length
    const out: SmokeOutcome = { results, failed }
    addTimings(stateDir, results)
    if (flags.junit) {
      mkdirSync(path.dirname(path.resolve(flags.junit)), { recursive: true })
      writeFileSync(flags.junit, junitXml('kubelab-smoke', results, startedAt))
      out.junit = path.resolve(flags.junit)
      ctx.progress.info(`JUnit report: ${out.junit}`)
    }
    if (failed) {
      const dir = path.join(stateDir, 'logs', `smoke-${startedAt.toISOString().replace(/[:.]/g, '-')}`)
      const bundle = await writeLogsBundle({ config, nodes: sctx.nodes, dir, progress: ctx.progress, provider: provider.info() })
      out.logs = bundle.dir
      ctx.progress.info(`logs bundle: ${bundle.dir}`)
    }
    return out
  } finally {
    closeNodes(sctx.nodes)
  }
}

export async function smokeCommand(ctx: CommandContext, _args: string[], flags: CommandFlags): Promise<number> {
  const opened = openCluster(ctx)
  const out = await clusterLock(ctx, opened.config, 'smoke', () => smoke(ctx, opened, flags))
  if (ctx.options.json) {
    printJson(ctx, { cluster: opened.config.name, passed: out.results.length - out.failed, failed: out.failed, checks: out.results, ...(out.junit ? { junit: out.junit } : {}), ...(out.logs ? { logs: out.logs } : {}) })
  }
  return out.failed ? 1 : 0
}
