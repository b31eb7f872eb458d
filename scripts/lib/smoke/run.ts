// The smoke suite on an opened cluster: its checks (checks/index.ts) against the live cluster, its
// reports (JUnit, timings.json entries) and, when a check fails, a logs bundle for CI. `kubelab
// smoke` and the end of `kubelab up` run it; the caller holds the cluster lock.

import path from 'node:path'
import { hostKubectlSetup, type Cluster } from '../cluster.ts'
import { type CommandError, StateError, UsageError } from '../errors.ts'
import { host } from '../host/exec.ts'
import { readJsonFile, writeFileAtomic, writeJsonFile } from '../host/files.ts'
import { TESTBOX_IMAGE } from '../images/workloads.ts'
import { writeLogsBundle } from '../logs/bundle.ts'
import { closeNodes, openNodes } from '../node/open.ts'
import type { NodeHandle } from '../node/types.ts'
import { labNames, netnsExists } from '../providers/common/network.ts'
import { CHECKS } from './checks/index.ts'
import { Fixtures } from './fixtures.ts'
import { junitXml } from './junit.ts'
import { Kube } from './kube.ts'
import { runSmoke } from './suite.ts'
import type { CheckResult, SmokeCheck, SmokeContext } from './types.ts'

export interface SmokeOptions {
  /** Leave the workloads for debugging. */
  keep?: boolean
  /** Write the JUnit report here. */
  junit?: string
  /** Run only the checks with these ids (numbered as in the whole suite). */
  only?: readonly string[]
}

/** The checks `only` names, with their numbers in the whole suite; a UsageError naming an unknown id. */
export function selectChecks(only?: readonly string[]): { checks: SmokeCheck[]; numbers: number[] } {
  if (!only) return { checks: [...CHECKS], numbers: CHECKS.map((_, i) => i + 1) }
  const unknown = only.filter((id) => !CHECKS.some((c) => c.id === id))
  if (unknown.length) throw new UsageError(`unknown smoke check ${unknown.map((u) => `"${u}"`).join(', ')}`, { hint: `--check takes ids: ${CHECKS.map((c) => c.id).join(', ')}` })
  const picked = CHECKS.map((c, i) => [c, i + 1] as const).filter(([c]) => only.includes(c.id))
  return { checks: picked.map(([c]) => c), numbers: picked.map(([, n]) => n) }
}

export interface SmokeOutcome {
  results: CheckResult[]
  failed: number
  junit?: string
  logs?: string
}

/** Appends the checks to the cluster's timings.json (as `smoke:<id>` phases). */
function addTimings(stateDir: string, results: readonly CheckResult[]): void {
  const file = path.join(stateDir, 'timings.json')
  const doc = readJsonFile<{ startedAt: string; totalMs: number; entries: { phase: string; offsetMs: number; durationMs: number }[] }>(file, 'the timings of the last up')
  if (!doc) return
  const t0 = Date.parse(doc.startedAt)
  doc.entries = [...doc.entries.filter((e) => !e.phase.startsWith('smoke:')), ...results.map((r) => ({ phase: `smoke:${r.id}`, offsetMs: r.startedAt - t0, durationMs: r.durationMs, ok: r.ok }))]
  doc.totalMs = Math.max(doc.totalMs, ...doc.entries.map((e) => e.offsetMs + e.durationMs))
  writeJsonFile(file, doc, { mode: 0o644 })
}

/** The suite on an opened cluster (the caller holds the cluster lock). */
export async function runSmokeSuite(c: Cluster, o: SmokeOptions = {}): Promise<SmokeOutcome> {
  const { config, provider, stateDir, progress } = c
  if (config.controlPlane.mode !== 'managed') {
    throw new UsageError('the smoke suite needs admin access to the cluster: run it with the config that brings up the control plane')
  }
  const { kubectl, kubeconfig } = await hostKubectlSetup(c)
  const kube = new Kube(kubectl, kubeconfig)
  const open = async () => openNodes(config, (await provider.list()).filter((m) => m.state === 'running'), stateDir, progress)
  let nodes: NodeHandle[] = await open()
  const lab = labNames(config.name).lab
  const sctx: SmokeContext = {
    config, kube, nodes, provider, stateDir, progress,
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
  const { checks, numbers } = selectChecks(o.only)
  progress.info(`Smoke suite: ${checks.length} ${checks.length === CHECKS.length ? '' : `of ${CHECKS.length} `}checks against ${config.name}`)
  try {
    const results = await runSmoke(sctx, checks, { keep: o.keep ?? false, progress, numbers })
    const failed = results.filter((r) => !r.ok).length
    const out: SmokeOutcome = { results, failed }
    try {
      addTimings(stateDir, results)
    } catch (err) {
      // The checks' verdict stands; only their place in the timeline is lost, and said so.
      if (!(err instanceof StateError)) throw err
      progress.warn(`${err.message}; the smoke checks are not added to it`)
    }
    if (o.junit) {
      writeFileAtomic(o.junit, junitXml('kubelab-smoke', results, startedAt), { mode: 0o644 })
      out.junit = path.resolve(o.junit)
      progress.info(`JUnit report: ${out.junit}`)
    }
    if (failed) {
      const dir = path.join(stateDir, 'logs', `smoke-${startedAt.toISOString().replace(/[:.]/g, '-')}`)
      const bundle = await writeLogsBundle({ config, nodes: sctx.nodes, dir, progress, provider: provider.info() })
      out.logs = bundle.dir
      progress.info(`logs bundle: ${bundle.dir}`)
    }
    return out
  } finally {
    closeNodes(sctx.nodes)
  }
}
