// `kubelab plan` against the live machines: every step's read-only check on every node it targets,
// so the plan says per node and step "unchanged" or "would change". Nothing on the nodes changes;
// the PKI is evaluated on a throwaway copy of the store (issuing into the copy shows what `up`
// would re-issue without touching the real one).

import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { resolveArtifacts } from './artifacts/resolve.ts'
import type { ClusterConfig } from './config/types.ts'
import { Progress } from './log/progress.ts'
import type { Machine } from './providers/types.ts'
import { stepInMode } from './steps/index.ts'
import { localImages, managedPki, pkiDir } from './steps/inputs.ts'
import { closeNodes, openNodes } from './steps/nodes.ts'
import { PIPELINE } from './steps/pipeline.ts'
import type { StepContext } from './steps/types.ts'

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
  try {
    const artifacts = await resolveArtifacts(config, { progress: quiet })
    const images = await localImages(o.cacheDir, artifacts, quiet)
    if (existsSync(pkiDir(stateDir))) cpSync(pkiDir(stateDir), pkiDir(scratch), { recursive: true })
    const pki = (await managedPki(pkiDir(scratch), config))?.bundle
    const ctx: StepContext = { config, nodes, artifacts, images, ...(pki ? { pki } : {}), progress: quiet, stateDir, shared: {} }
    // A node whose machine runs needs no machine step; one without a machine has every step ahead.
    const out: Record<string, Record<string, LiveStatus>> = Object.fromEntries(nodes.map((n) => [n.spec.name, { 'machine:ready': 'unchanged' }]))
    for (const step of PIPELINE) {
      if (!stepInMode(step, config.controlPlane.mode)) continue
      for (const spec of config.nodes) {
        if (step.on !== 'all' && (step.on === 'control-plane') !== (spec.role === 'control-plane')) continue
        const node = nodes.find((n) => n.spec.name === spec.name)
        if (!node) continue
        try {
          out[spec.name]![step.id] = (await step.check(ctx, node)) ? 'unchanged' : 'would change'
        } catch (err) {
          out[spec.name]![step.id] = `unknown: ${(err as Error).message.split('\n')[0]!.slice(0, 100)}`
        }
      }
    }
    return out
  } finally {
    closeNodes(nodes)
    rmSync(scratch, { recursive: true, force: true })
  }
}
