// `kubelab up`, the whole pipeline in one place, one line per action (as kind's create does):
// machines -> nodes opened (SSH + detected substrate) -> verified binaries, local images, PKI ->
// converge steps in order -> timings written beside the cluster state.

import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { resolveArtifacts } from './artifacts/resolve.ts'
import type { ClusterConfig } from './config/types.ts'
import type { Progress } from './log/progress.ts'
import type { ProviderChoice } from './providers/index.ts'
import type { Machine, Provider } from './providers/types.ts'
import { localImages, managedPki, pkiDir } from './steps/inputs.ts'
import { closeNodes, openNodes } from './steps/nodes.ts'
import type { Step } from './steps/types.ts'
import { converge, type StepOutcome } from './steps/run.ts'
import { Timings } from './timings.ts'

export interface UpOptions {
  config: ClusterConfig
  provider: Provider
  choice: ProviderChoice
  stateDir: string
  cacheDir: string
  progress: Progress
  /** Stop after the machines. */
  machinesOnly: boolean
  steps: readonly Step[]
}

export interface UpResult {
  machines: Machine[]
  outcomes: StepOutcome[]
  timings?: { json: string; svg: string }
}

export async function up(o: UpOptions): Promise<UpResult> {
  const { config, provider, progress, stateDir } = o
  const timings = new Timings()
  const before = new Set((await provider.list()).filter((m) => m.state === 'running').map((m) => m.name))
  const n = config.nodes.length
  const machines = await timings.phase('machines', () =>
    progress.step(`Starting ${n} ${o.choice.type} machine${n === 1 ? '' : 's'}`, () => provider.ensure(config.nodes), (got) => {
      const reused = got.filter((m) => before.has(m.name)).length
      return reused === got.length ? 'all reused, nothing changed' : `${got.length - reused} started, ${reused} reused`
    }))
  if (o.machinesOnly) return { machines, outcomes: [] }

  const nodes = await timings.phase('nodes:open', () => openNodes(config, machines, stateDir, progress))
  try {
    // What each node is, for `status` (and for the configs the steps generate).
    writeFileSync(path.join(stateDir, 'facts.json'), `${JSON.stringify(Object.fromEntries(nodes.map((h) => [h.spec.name, h.substrate])), null, 2)}\n`)
    const artifacts = await timings.phase('artifacts', () =>
      progress.step('Resolving verified binaries', () => resolveArtifacts(config, { progress }), (a) => `${a.length} files`))
    const images = await timings.phase('images', () => localImages(o.cacheDir, artifacts, progress))
    const pki = config.controlPlane.mode === 'managed'
      ? (await timings.phase('pki', () => progress.step('Issuing the cluster PKI (kept in the cluster state)',
        () => managedPki(pkiDir(stateDir), config), (r) => (r?.changed ? `${r.changed} files written` : 'unchanged'))))?.bundle
      : undefined
    let outcomes: StepOutcome[] = []
    try {
      outcomes = await converge({ config, nodes, artifacts, images, ...(pki ? { pki } : {}), progress, stateDir, shared: {} }, o.steps, (done) => {
        outcomes = done
      })
    } finally {
      timings.add(...outcomes.map((x) => ({ phase: x.step, node: x.node, startedAt: x.startedAt, durationMs: x.durationMs, changed: x.changed })))
      const written = timings.write(stateDir)
      progress.debug(1, `timings: ${written.json}, ${written.svg}`)
    }
    return { machines, outcomes, timings: { json: path.join(stateDir, 'timings.json'), svg: path.join(stateDir, 'timings.svg') } }
  } finally {
    closeNodes(nodes)
  }
}
