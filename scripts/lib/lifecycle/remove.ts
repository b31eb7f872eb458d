// Removing worker nodes (`kubelab node remove NAME`, `kubelab up --prune`), one at a time: cordon,
// drain, delete the Node object, destroy the machine, drop its pod-CIDR route from the other nodes
// (network:pod-routes converged on them), forget its pinned host key and remembered allocation.

import { StepError } from '../errors.ts'
import type { Machine } from '../providers/types.ts'
import { hostKeyStore } from '../remote/machine.ts'
import { converge } from '../converge/runner.ts'
import { networkPodRoutes } from '../steps/network-pod-routes.ts'
import { closeNodes, openNodes } from '../node/open.ts'
import { forget } from './allocations.ts'
import { cordon, drain } from './drain.ts'
import { liveKube, nodeInfos, type Cluster, type Kube } from './session.ts'

export interface Removed {
  node: string
  drained: boolean
  nodeObjectDeleted: boolean
  machineDestroyed: boolean
}

async function removeOne(c: Cluster, kube: Kube | undefined, m: Machine | undefined, name: string): Promise<Removed> {
  const { progress } = c
  const out: Removed = { node: name, drained: false, nodeObjectDeleted: false, machineDestroyed: false }
  const fail = (what: string) => (err: unknown) => { throw new StepError(`node:remove`, name, err, { hint: `${what}; run the same command again to continue` }) }
  const known = kube ? (await nodeInfos(kube)).some((n) => n.name === name) : false
  if (kube && known) {
    await progress.step(`Draining ${name} (cordon, evict its pods)`, async () => {
      await cordon(kube, name)
      await drain(kube, name)
    }).catch(fail('draining stopped'))
    out.drained = true
    await progress.step(`Deleting Node ${name}`, () => kube.run(['delete', 'node', name, '--wait=true', '--timeout=60s'])).catch(fail('the Node object is still there'))
    out.nodeObjectDeleted = true
  }
  if (!kube && c.config.controlPlane.mode === 'external') {
    progress.warn(`${name}: kubelab has no admin rights on the external control plane; drain it before and delete its Node there: kubectl drain ${name} --ignore-daemonsets --delete-emptydir-data && kubectl delete node ${name}`)
  }
  if (m) {
    await progress.step(`Deleting machine ${name}`, () => c.provider.destroy([name])).catch(fail('the machine is still there'))
    out.machineDestroyed = true
  }
  await hostKeyStore(c.stateDir).delete(name)
  forget(c.stateDir, name)
  return out
}

/** Removes `names` (already checked by prune.ts), then re-routes the remaining nodes. */
export async function removeNodes(c: Cluster, names: readonly string[]): Promise<Removed[]> {
  if (names.length === 0) return []
  const machines = await c.provider.list()
  const kube = await liveKube(c, machines)
  const done: Removed[] = []
  try {
    for (const name of names) done.push(await removeOne(c, kube, machines.find((m) => m.name === name), name))
  } finally {
    kube?.close()
  }
  // The other nodes forget the removed pod CIDRs (only when the cluster is converged at all).
  const now = await c.provider.list()
  const running = c.config.nodes.every((n) => now.some((m) => m.name === n.name && m.state === 'running'))
  if (kube && running) {
    const nodes = await openNodes(c.config, now, c.stateDir, c.progress)
    try {
      await converge({ config: c.config, nodes, artifacts: [], images: [], progress: c.progress, stateDir: c.stateDir }, [networkPodRoutes])
    } finally {
      closeNodes(nodes)
    }
  }
  return done
}
