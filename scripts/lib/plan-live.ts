// `kubelab plan` against the live machines: every step's read-only check on every node it targets,
// so the plan says per node and step "unchanged" or "would change". Nothing on the nodes changes;
// the PKI is evaluated on a throwaway copy of the store (issuing into the copy shows what `up`
// would re-issue without touching the real one).

import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { ClusterConfig } from './config/types.ts'
import { pkiDir, stepInputs } from './converge/inputs.ts'
import { checkAll, taskKey } from './converge/runner.ts'
import { onInterrupt } from './host/interrupt.ts'
import { targets, type StepContext } from './converge/step.ts'
import { Progress } from './log/progress.ts'
import { closeNodes, openNodes } from './node/open.ts'
import type { Machine } from './providers/types.ts'
import { STEPS } from './steps/index.ts'

export type LiveStatus = 'unchanged' | 'would change' | `unknown: ${string}`


/** node -> step id -> status, for the machines that run; undefined when none runs. */
export async function liveStepStatus(o: { config: ClusterConfig; machines: readonly Machine[]; stateDir: string; cacheDir: string; progress: Progress }): Promise<Record<string, Record<string, LiveStatus>> | undefined> {
  const { config, stateDir, progress } = o
  const running = o.machines.filter((m) => m.state === 'running' && config.nodes.some((n) => n.name === m.name))
  if (running.length === 0) return undefined
  // The plan is the output: the work behind it stays quiet (at -v it shows).
  const quiet = progress.verbosity > 0 ? progress : new Progress({ sink: { write: () => true } })
  const nodes = await openNodes(config, running, stateDir, quiet)
  const scratch = mkdtempSync(path.join(tmpdir(), 'kubelab-plan-'))
  const drop = () => rmSync(scratch, { recursive: true, force: true })
  const forget = onInterrupt(drop) // the copy holds the CA keys: never left in the temp dir
  try {
    if (existsSync(pkiDir(stateDir))) cpSync(pkiDir(stateDir), pkiDir(scratch), { recursive: true })
    const inputs = await stepInputs({ config, stateDir, cacheDir: o.cacheDir, progress: quiet, pkiDir: pkiDir(scratch), keep: false })
    const ctx: StepContext = { config, nodes, ...inputs, progress: quiet, stateDir }
    const checks = await checkAll(ctx, STEPS, new Set(nodes.map((n) => n.spec.name)))
    const out: Record<string, Record<string, LiveStatus>> = Object.fromEntries(nodes.map((n) => [n.spec.name, {}]))
    for (const step of STEPS) {
      for (const spec of targets(step, config)) {
        const c = checks.get(taskKey(step.id, spec.name))?.converged
        if (c === undefined) continue
        out[spec.name]![step.id] = c instanceof Error ? `unknown: ${c.message.split('\n')[0]!.slice(0, 100)}` : c ? 'unchanged' : 'would change'
      }
    }
    return out
  } finally {
    closeNodes(nodes)
    forget()
    drop()
  }
}
