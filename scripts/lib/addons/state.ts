// An addon's state in a running cluster, as `kubelab addons` shows it: by default the Deployments
// and APIServices labelled kubelab.io/addon=<name> (applied when any object is there, ready when
// every one is Available); an addon with no objects (the registry) says for itself.

import type { ClusterConfig } from '../config/types.ts'
import { ADDON_KINDS, ADDON_LABEL } from './manifest.ts'
import type { Addon, AddonState, HostKubectl } from './types.ts'

interface Item {
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string> }
  status?: { conditions?: { type: string; status: string; message?: string }[] }
}

/** The state of each addon from one list of every labelled object (`kubectl get ... -o json`). */
export function statesFrom(addons: readonly Addon[], items: readonly Item[]): Map<string, AddonState> {
  const states = new Map<string, AddonState>()
  for (const a of addons) {
    const mine = items.filter((i) => i.metadata.labels?.[ADDON_LABEL] === a.name)
    const gated = mine.filter((i) => i.kind === 'Deployment' || i.kind === 'APIService')
    const notAvailable = gated.filter((i) => i.status?.conditions?.find((c) => c.type === 'Available')?.status !== 'True')
    const applied = mine.length > 0
    states.set(a.name, {
      applied,
      ready: applied && notAvailable.length === 0,
      detail: !applied ? 'no objects in the cluster'
        : notAvailable.length ? `not Available: ${notAvailable.map((i) => `${i.kind.toLowerCase()}/${i.metadata.name}`).join(', ')}`
          : `${mine.length} objects${gated.length ? `, ${gated.map((i) => `${i.kind.toLowerCase()}/${i.metadata.name}`).join(', ')} Available` : ''}`,
    })
  }
  return states
}

export async function addonStates(addons: readonly Addon[], config: ClusterConfig, kubectl: HostKubectl): Promise<Map<string, AddonState>> {
  const r = await kubectl(['get', ADDON_KINDS.join(','), '-A', '-l', ADDON_LABEL, '-o', 'json'])
  if (r.status !== 0) throw new Error(`kubectl get (addon objects) failed: ${r.stderr.trim()}`)
  const states = statesFrom(addons, (JSON.parse(r.stdout) as { items: Item[] }).items)
  for (const a of addons) if (a.state) states.set(a.name, await a.state(config, kubectl))
  return states
}
