// Which machines removal may take (pure): a machine kubelab made whose node is no longer in the
// config. Refused, with the reason: a control-plane node (it holds etcd and the API server; kubelab
// runs exactly one) and the last worker (the cluster would have nowhere to run pods).

import type { ClusterConfig } from '../config/types.ts'

export interface Existing {
  readonly name: string
  readonly role: 'control-plane' | 'worker'
}

export interface Selection {
  remove: string[]
  refused: { name: string; reason: string }[]
}

function refusal(config: ClusterConfig, m: Existing, remainingWorkers: number): string | undefined {
  if (m.role === 'control-plane') {
    return `${m.name} is a control-plane node: it holds etcd and the API server, and kubelab runs exactly one, so removing it would end the cluster (keep it in nodes; kubelab down deletes the whole cluster)`
  }
  if (remainingWorkers === 0) {
    return `${m.name} is the last worker: the cluster would have nowhere to run pods; add another worker to nodes first`
  }
  return undefined
}

/** `up --prune`: every existing machine not in the config, minus the refused ones. */
export function selectPrune(config: ClusterConfig, existing: readonly Existing[]): Selection {
  const inConfig = new Set(config.nodes.map((n) => n.name))
  const workersLeft = config.nodes.filter((n) => n.role === 'worker').length
  const sel: Selection = { remove: [], refused: [] }
  for (const m of existing.filter((x) => !inConfig.has(x.name))) {
    const why = refusal(config, m, workersLeft)
    if (why) sel.refused.push({ name: m.name, reason: why })
    else sel.remove.push(m.name)
  }
  return sel
}

/** `node remove NAME`: the node must exist, be gone from the config, and not be refused. */
export function checkRemovable(config: ClusterConfig, existing: readonly Existing[], name: string): string | undefined {
  const m = existing.find((x) => x.name === name)
  const spec = config.nodes.find((n) => n.name === name)
  if (!m && !spec) return `no node "${name}" in cluster ${config.name}; nodes: ${[...new Set([...config.nodes.map((n) => n.name), ...existing.map((x) => x.name)])].join(', ')}`
  if (spec?.role === 'control-plane' || m?.role === 'control-plane') return refusal(config, { name, role: 'control-plane' }, 0)
  if (spec) return `${name} is still in nodes of ${config.file}: the config is the truth, so the next up would bring it back; remove it from nodes first, then run kubelab node remove ${name} (or kubelab up --prune)`
  if (!m) return `no machine "${name}" in cluster ${config.name}`
  return refusal(config, m, config.nodes.filter((n) => n.role === 'worker').length)
}
