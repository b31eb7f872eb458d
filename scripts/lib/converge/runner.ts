// The step runner. Every (step, node) pair is a task that starts as soon as what it waits for is
// done: the steps before it on the same node that it names (`after`), the cluster-wide conditions
// it needs (`waitsFor`: every task of the steps that establish them), and on control-plane nodes
// the same step on the control-plane node before (one member at a time). So workers prepare their
// OS, binaries, runtime and kubelet while the control plane starts, and join as soon as the API
// server serves and the token exists. Each task: check -> apply -> check again (still false is an
// error). Progress stays one line per step, printed in list order as each step finishes on all its
// nodes. A failure stops new work and cancels waits; every failure is reported, not just the first.

import { KubelabError, StepError } from '../errors.ts'
import type { NodeHandle } from '../node/types.ts'
import { targets, type Step, type StepContext } from './step.ts'
import { WaitCancelled } from './wait.ts'

export interface StepOutcome {
  step: string
  node: string
  changed: boolean
  /** When the step started on this node (ms since the epoch) and how long it took. */
  startedAt: number
  durationMs: number
}

export interface ConvergeOptions {
  /** Every outcome so far, each time one more finishes (timings survive a failure). */
  onProgress?: (done: StepOutcome[]) => void
  /** Run on these nodes only; on every other node each step counts as done without running. */
  only?: readonly string[]
  /**
   * First run every check at once (they are read-only); when all hold, the cluster is converged and
   * nothing more runs: a re-run costs one round of parallel checks instead of the graph's chain of them.
   */
  precheck?: boolean
}

export interface CheckResult {
  /** true: converged; false: would change; an Error: the check itself failed. */
  readonly converged: boolean | Error
  readonly startedAt: number
  readonly durationMs: number
}

/** `step@node`: one task of the graph. */
export const taskKey = (step: string, node: string) => `${step}@${node}`

/** Every step's read-only check on every node it runs on (or those in `only`), all at once. */
export async function checkAll(ctx: StepContext, steps: readonly Step[], only?: ReadonlySet<string>): Promise<Map<string, CheckResult>> {
  // One round: checks reading the same API object share one read.
  const round: StepContext = { ...ctx, reads: new Map() }
  const jobs = steps.flatMap((step) => targets(step, ctx.config).filter((n) => !only || only.has(n.name)).map((spec) => ({ step, spec })))
  const results = await Promise.all(jobs.map(async ({ step, spec }): Promise<[string, CheckResult]> => {
    const startedAt = Date.now()
    const node = ctx.nodes.find((n) => n.spec.name === spec.name)
    let converged: boolean | Error
    try {
      if (!node) throw new Error(`node ${spec.name} is not open`)
      converged = await step.check(round, node)
    } catch (err) {
      converged = err instanceof Error ? err : new Error(String(err))
    }
    return [taskKey(step.id, spec.name), { converged, startedAt, durationMs: Date.now() - startedAt }]
  }))
  return new Map(results)
}

async function onNode(step: Step, ctx: StepContext, node: NodeHandle): Promise<StepOutcome> {
  const started = Date.now()
  const outcome = (changed: boolean): StepOutcome => ({ step: step.id, node: node.spec.name, changed, startedAt: started, durationMs: Date.now() - started })
  try {
    if (await step.check(ctx, node)) {
      ctx.progress.debug(1, `${node.spec.name}: ${step.id} unchanged`)
      return outcome(false)
    }
    await step.apply(ctx, node)
    if (!(await step.check(ctx, node))) throw new Error(`${step.id} is still not converged after apply (its check fails)`)
    ctx.progress.debug(1, `${node.spec.name}: ${step.id} changed`)
    return outcome(true)
  } catch (err) {
    if (err instanceof WaitCancelled || err instanceof StepError) throw err
    const hint = err instanceof KubelabError ? err.hint : undefined
    throw new StepError(step.id, node.spec.name, err, { address: node.spec.address, ...(hint ? { hint } : {}) })
  }
}

/** One progress line per step, in list order, each printed once its step settled on every node. */
class StepLines {
  private readonly rows: { step: Step; nodes: string[]; outcomes: StepOutcome[]; failed: string[]; stopped: string[]; firstStart?: number; lastEnd?: number }[]
  private printed = 0

  constructor(private readonly ctx: StepContext, steps: readonly Step[], only?: ReadonlySet<string>) {
    this.rows = steps.map((step) => ({ step, nodes: targets(step, ctx.config).filter((n) => !only || only.has(n.name)).map((n) => n.name), outcomes: [], failed: [], stopped: [] }))
      .filter((r) => r.nodes.length > 0)
    this.spin()
  }

  started(step: Step): void {
    const row = this.rows.find((r) => r.step === step)!
    row.firstStart ??= Date.now()
  }

  /** A node's task ended: with an outcome, failed, or stopped (its wait cancelled because the run is stopping). */
  settled(step: Step, o: { outcome?: StepOutcome; failedNode?: string; stoppedNode?: string }): void {
    const row = this.rows.find((r) => r.step === step)!
    if (o.outcome) row.outcomes.push(o.outcome)
    if (o.failedNode) row.failed.push(o.failedNode)
    if (o.stoppedNode) row.stopped.push(o.stoppedNode)
    row.lastEnd = Date.now()
    this.flush(false)
  }

  /** Prints every line it can; at the end also the lines of steps that failed or stopped somewhere (steps that never ran stay silent). */
  flush(final: boolean): void {
    while (this.printed < this.rows.length) {
      const row = this.rows[this.printed]!
      const complete = row.outcomes.length + row.failed.length === row.nodes.length
      if (!complete && !(final && (row.failed.length > 0 || row.outcomes.length > 0 || row.stopped.length > 0))) {
        if (final) { this.printed++; continue }
        break
      }
      // The step's span: its first start to its last end (a precheck's outcomes carry their own times).
      const begin = Math.min(row.firstStart ?? Infinity, ...row.outcomes.map((x) => x.startedAt))
      const end = Math.max(row.lastEnd ?? 0, ...row.outcomes.map((x) => x.startedAt + x.durationMs))
      const ms = Number.isFinite(begin) ? Math.max(0, end - begin) : 0
      if (row.failed.length > 0 || !complete) {
        const ok = row.outcomes.map((x) => x.node)
        const notRun = row.nodes.filter((n) => !ok.includes(n) && !row.failed.includes(n) && !row.stopped.includes(n))
        const detail = [...row.failed.map((n) => `${n} failed`), ...ok.map((n) => `${n} ok`), ...row.stopped.map((n) => `${n} stopped`), ...notRun.map((n) => `${n} not run`)]
        this.ctx.progress.stepLine(row.step.title, false, `(${detail.join(', ')})`, ms)
      } else {
        const changed = row.outcomes.filter((x) => x.changed).length
        const n = row.outcomes.length
        this.ctx.progress.stepLine(row.step.title, true, `${n} node${n === 1 ? '' : 's'}, ${changed === 0 ? 'unchanged' : `${changed} changed`}`, ms)
      }
      this.printed++
    }
    if (final) this.ctx.progress.spin(undefined)
    else this.spin()
  }

  private spin(): void {
    this.ctx.progress.spin(this.rows[this.printed]?.step.title)
  }
}

/** Every failure as one StepError: the first in list order, the others attached and named in its message. */
function combine(failures: readonly StepError[], steps: readonly Step[], ctx: StepContext): StepError {
  const order = (e: StepError) => steps.findIndex((s) => s.id === e.step) * 1000 + ctx.config.nodes.findIndex((n) => n.name === e.node)
  const [first, ...rest] = [...failures].sort((a, b) => order(a) - order(b))
  if (rest.length > 0) {
    first!.alsoFailed = rest
    first!.message += `; also failed: ${rest.map((e) => `${e.step} on ${e.node}`).join(', ')}`
  }
  return first!
}

/** Runs the steps as a graph; returns what each did on each node, or throws every failure as one StepError. */
export async function converge(base: Omit<StepContext, 'signal'>, steps: readonly Step[], o: ConvergeOptions = {}): Promise<StepOutcome[]> {
  const abort = new AbortController()
  const ctx: StepContext = { ...base, signal: abort.signal }
  const only = o.only ? new Set(o.only) : undefined
  const lines = new StepLines(ctx, steps, only)
  const tasks = new Map<string, Promise<boolean>>()
  const key = (step: Step, node: string) => taskKey(step.id, node)
  const outcomes: StepOutcome[] = []
  if (o.precheck) {
    const checks = await checkAll(ctx, steps, only)
    if ([...checks.values()].every((c) => c.converged === true)) {
      for (const step of steps) {
        for (const spec of targets(step, ctx.config)) {
          const c = checks.get(key(step, spec.name))
          if (!c) continue
          const outcome = { step: step.id, node: spec.name, changed: false, startedAt: c.startedAt, durationMs: c.durationMs }
          outcomes.push(outcome)
          lines.started(step)
          lines.settled(step, { outcome })
        }
      }
      lines.flush(true)
      o.onProgress?.([...outcomes])
      return outcomes
    }
  }
  const failures: StepError[] = []

  steps.forEach((step, i) => {
    const earlier = steps.slice(0, i)
    // Cluster-wide: every node of every earlier step establishing a condition this step waits for.
    const conditionDeps = earlier.filter((s) => s.establishes && step.waitsFor?.includes(s.establishes))
      .flatMap((s) => targets(s, ctx.config).map((n) => key(s, n.name)))
    let previousMember: string | undefined
    // controlPlaneFirst: workers start this step once every control-plane node has done it.
    const controlPlaneDone = step.controlPlaneFirst
      ? targets(step, ctx.config).filter((n) => n.role === 'control-plane').map((n) => key(step, n.name))
      : []
    for (const spec of targets(step, ctx.config)) {
      const sameNode = earlier.filter((s) => step.after?.includes(s.id) && targets(s, ctx.config).some((n) => n.name === spec.name)).map((s) => key(s, spec.name))
      const first = spec.role === 'worker' ? controlPlaneDone : []
      const deps = [...conditionDeps, ...sameNode, ...first, ...(previousMember ? [previousMember] : [])].map((k) => tasks.get(k)!)
      if (step.on === 'control-plane') previousMember = key(step, spec.name)
      const node = ctx.nodes.find((n) => n.spec.name === spec.name)
      tasks.set(key(step, spec.name), (async () => {
        const ready = (await Promise.all(deps)).every(Boolean)
        if (!ready || abort.signal.aborted) return false
        if (only && !only.has(spec.name)) return true
        lines.started(step)
        try {
          if (!node) throw new StepError(step.id, spec.name, new Error(`internal: node ${spec.name} is not open`))
          const outcome = await onNode(step, ctx, node)
          outcomes.push(outcome)
          lines.settled(step, { outcome })
          o.onProgress?.([...outcomes])
          return true
        } catch (err) {
          // A wait this run cancelled is no failure of its own; any other end of a wait is.
          if (err instanceof WaitCancelled && abort.signal.aborted) {
            lines.settled(step, { stoppedNode: spec.name })
          } else {
            failures.push(err instanceof StepError ? err : new StepError(step.id, spec.name, err))
            abort.abort()
            lines.settled(step, { failedNode: spec.name })
          }
          return false
        }
      })())
    }
  })
  await Promise.all(tasks.values())
  lines.flush(true)
  if (failures.length > 0) throw combine(failures, steps, ctx)
  return outcomes
}
