// `kubelab up`, the whole sequence in one place, one line per action (as kind's create does):
// lock -> preflight -> reconcile (prune, version) -> machines -> nodes opened (SSH + detected
// substrate) -> the steps' host-side inputs (binaries, images, PKI, join token) -> the converge
// graph (steps/index.ts) -> timings -> LoadBalancer Services forwarded to 127.0.0.1 -> smoke suite
// -> allocations remembered. A failed step leaves a logs bundle; a re-run converges from wherever
// the failure left things.

import path from 'node:path'
import { withClusterLock, type Cluster } from './cluster.ts'
import { cacheGaps, stepInputs } from './converge/inputs.ts'
import { converge, type StepOutcome } from './converge/runner.ts'
import { stepsUntil, type Step } from './converge/step.ts'
import { missingPackages, PreflightError, StepError } from './errors.ts'
import { buildChecks, buildsOf, installPackages } from './host/deps.ts'
import { writeJsonFile } from './host/files.ts'
import { remember } from './lifecycle/allocations.ts'
import { beforeUp } from './lifecycle/reconcile.ts'
import { writeLogsBundle } from './logs/bundle.ts'
import { closeNodes, openNodes } from './node/open.ts'
import type { Machine } from './providers/types.ts'
import { ensureServiceForwards, forwardsServices, stopServiceForwards } from './services/forwards.ts'
import { runSmokeSuite, type SmokeOptions } from './smoke/run.ts'
import { STEPS } from './steps/index.ts'
import { Timings } from './timings.ts'

export interface UpOptions {
  /** Stop after the machines. */
  machinesOnly?: boolean
  /** Converge up to and including this step id, then stop (no smoke suite). */
  until?: string
  /** Remove machines whose nodes left the config. */
  prune?: boolean
  /** Run the smoke suite at the end (default true; only a whole `up` of a managed control plane runs it). */
  smoke?: boolean
  smokeOptions?: SmokeOptions
  /** As root on Debian/Ubuntu: install the host packages preflight finds missing (host/deps.ts), then go on. */
  installDeps?: boolean
}

export interface UpResult {
  machines: Machine[]
  outcomes: StepOutcome[]
  /** Failed smoke checks (0 when the suite passed or did not run). */
  smokeFailed: number
  timings?: { json: string; svg: string }
}

export async function up(c: Cluster, o: UpOptions = {}): Promise<UpResult> {
  const steps = stepsUntil(STEPS, o.until)
  const result = await withClusterLock(c, 'up', async () => {
    c.progress.debug(1, `provider: ${c.choice.type} (${c.choice.why})`)
    await preflight(c, o.installDeps ?? false)
    await beforeUp(c, { prune: o.prune ?? false })
    const timings = new Timings()
    const { machines, started } = await timings.phase('machines', () => ensureMachines(c))
    if (o.machinesOnly) return { machines, outcomes: [], smokeFailed: 0 }
    let outcomes: StepOutcome[]
    try {
      // A machine just made has every step ahead of it: no point checking whether all is converged.
      outcomes = await convergeNodes(c, machines, steps, timings, { precheck: started === 0 })
    } catch (err) {
      if (err instanceof StepError) await logsAfterFailure(c)
      throw err
    }
    if (!o.until) await hostServiceForwards(c)
    const timingFiles = { json: path.join(c.stateDir, 'timings.json'), svg: path.join(c.stateDir, 'timings.svg') }
    return { machines, outcomes, smokeFailed: await smokeAtEnd(c, o), timings: timingFiles }
  })
  remember(c.stateDir, c.config, { version: !o.machinesOnly && !o.until })
  return result
}

/**
 * The provider's checks of this host. With `installDeps` also what builds from Go modules need
 * (for anything the cache lacks that a build could make), and the missing packages are installed
 * before checking again. Without it, the build's needs are checked when a build is about to start.
 */
async function preflight(c: Cluster, installDeps: boolean): Promise<void> {
  const checks = async () => [
    ...await c.provider.preflight(),
    ...installDeps ? await buildChecks(buildsOf(await cacheGaps(c.config, c.cacheDir), { strict: false })) : [],
  ]
  let failed = (await checks()).filter((x) => !x.ok)
  const packages = missingPackages(failed)
  if (installDeps && packages.length) {
    await installPackages(packages, c.progress)
    failed = (await checks()).filter((x) => !x.ok)
  }
  if (failed.length) throw new PreflightError('this host', failed)
}

/** The config's machines, made or started where needed; `started` counts those that were not running. */
async function ensureMachines(c: Cluster): Promise<{ machines: Machine[]; started: number }> {
  const before = new Set((await c.provider.list()).filter((m) => m.state === 'running').map((m) => m.name))
  const n = c.config.nodes.length
  const machines = await c.progress.step(`Starting ${n} ${c.choice.type} machine${n === 1 ? '' : 's'}`, () => c.provider.ensure(c.config.nodes), (got) => {
    const reused = got.filter((m) => before.has(m.name)).length
    return reused === got.length ? 'all reused, nothing changed' : `${got.length - reused} started, ${reused} reused`
  })
  return { machines, started: machines.filter((m) => !before.has(m.name)).length }
}

/** Opens the nodes, prepares the steps' inputs and runs the converge graph; timings are written even when a step fails. */
async function convergeNodes(c: Cluster, machines: readonly Machine[], steps: readonly Step[], timings: Timings, o: { precheck: boolean }): Promise<StepOutcome[]> {
  const { config, progress, stateDir } = c
  // The host-side inputs (binaries verified, images, PKI) are prepared while the nodes are opened.
  const preparing = stepInputs({ config, stateDir, cacheDir: c.cacheDir, progress, phase: (name, title, fn, detail) => timings.phase(name, () => progress.step(title, fn, detail)) })
  preparing.catch(() => undefined) // awaited below; a failure while opening the nodes wins
  const nodes = await timings.phase('nodes:open', () => openNodes(config, machines, stateDir, progress))
  let outcomes: StepOutcome[] = []
  try {
    // What each node is, for `status` (and for the configs the steps generate).
    writeJsonFile(path.join(stateDir, 'facts.json'), Object.fromEntries(nodes.map((h) => [h.spec.name, h.substrate])))
    const inputs = await preparing
    await converge({ config, nodes, ...inputs, progress, stateDir }, steps, { precheck: o.precheck, onProgress: (done) => { outcomes = done } })
    return outcomes
  } finally {
    timings.add(...outcomes.map((x) => ({ phase: x.step, node: x.node, startedAt: x.startedAt, durationMs: x.durationMs, changed: x.changed })))
    const written = timings.write(stateDir)
    progress.debug(1, `timings: ${written.json}, ${written.svg}`)
    closeNodes(nodes)
  }
}

/** LoadBalancer Services on the host's 127.0.0.1 (a forwarder started or kept; stopped when the addon is off). */
async function hostServiceForwards(c: Cluster): Promise<void> {
  if (!forwardsServices(c)) return stopServiceForwards(c.stateDir)
  await c.progress.step('Forwarding LoadBalancer Services to 127.0.0.1', () => ensureServiceForwards(c))
}

/** The smoke suite that ends a whole `up`: it needs admin access, which only a managed control plane gives. */
async function smokeAtEnd(c: Cluster, o: UpOptions): Promise<number> {
  if (o.until || o.smoke === false) return 0
  if (c.config.controlPlane.mode !== 'managed') {
    c.progress.info('smoke suite skipped: it needs admin access, which an external control plane does not give kubelab')
    return 0
  }
  return (await runSmokeSuite(c, o.smokeOptions)).failed
}

/** After a failed step: a logs bundle of whatever nodes answer (best effort, never hiding the failure). */
async function logsAfterFailure(c: Cluster): Promise<void> {
  try {
    const running = (await c.provider.list()).filter((m) => m.state === 'running')
    if (running.length === 0) return
    const nodes = await openNodes(c.config, running, c.stateDir, c.progress)
    try {
      const dir = path.join(c.stateDir, 'logs', `up-${new Date().toISOString().replace(/[:.]/g, '-')}`)
      c.progress.info(`logs bundle: ${(await writeLogsBundle({ config: c.config, nodes, dir, progress: c.progress, provider: c.provider.info() })).dir}`)
    } finally {
      closeNodes(nodes)
    }
  } catch (err) {
    c.progress.warn(`no logs bundle: ${(err as Error).message.split('\n')[0]}`)
  }
}
