// What `kubelab up` checks and does before it converges, now that nodes come and go:
// - machines whose nodes left the config: removed with `--prune` (refusals stop everything before
//   a change), otherwise named in a warning;
// - a changed kubernetes.version on a running cluster is refused: `up` converges nodes in parallel,
//   an upgrade must go control plane first and one worker at a time, so it points to `kubelab upgrade`;
// - the current nodes' addresses and pod CIDRs are remembered (allocations.ts).

import { PreflightError } from '../errors.ts'
import { readAllocations, remember } from './allocations.ts'
import { selectPrune } from './prune.ts'
import { removeNodes } from './remove.ts'
import { apiserverVersion, liveKube, type Cluster } from './session.ts'

/** The version the running cluster's control plane runs, when it runs (recorded, else asked). */
async function runningVersion(c: Cluster): Promise<string | undefined> {
  const recorded = readAllocations(c.stateDir).version
  const machines = await c.provider.list()
  if (!machines.some((m) => m.role === 'control-plane' && m.state === 'running')) return undefined
  if (recorded) return recorded
  const kube = await liveKube(c, machines).catch(() => undefined)
  if (!kube) return undefined
  try {
    return /^v\d+\.\d+\.\d+/.exec(await apiserverVersion(kube).catch(() => ''))?.[0]
  } finally {
    kube.close()
  }
}

export async function beforeUp(c: Cluster, o: { prune: boolean }): Promise<void> {
  const { config, progress } = c
  const running = await runningVersion(c)
  if (running && running !== config.kubernetes.version) {
    throw new PreflightError(`cluster ${config.name}`, [{
      name: 'kubernetes.version',
      ok: false,
      detail: `the cluster runs ${running}, the config asks for ${config.kubernetes.version}; up does not change versions (it converges nodes in parallel)`,
      fix: 'dry run: npx kubelab plan; then, control plane first and workers one at a time: npx kubelab upgrade',
    }])
  }
  const machines = await c.provider.list()
  const sel = selectPrune(config, machines)
  if (o.prune) {
    if (sel.refused.length > 0) {
      throw new PreflightError('up --prune', sel.refused.map((r) => ({ name: `remove ${r.name}`, ok: false, detail: r.reason })))
    }
    if (sel.remove.length > 0) await removeNodes(c, sel.remove)
  } else if (sel.remove.length + sel.refused.length > 0) {
    const names = [...sel.remove, ...sel.refused.map((r) => r.name)].join(', ')
    progress.warn(`not in ${config.file} any more: ${names}; it keeps running (its pod routes are dropped): npx kubelab up --prune (or kubelab node remove NAME) removes it`)
  }
  remember(c.stateDir, config)
}
