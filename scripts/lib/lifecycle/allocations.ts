// What the running cluster was given, remembered beside its state (`<stateDir>/lifecycle.json`):
// each node's lab address and pod CIDR, and the Kubernetes version it runs. Derived values follow
// node order, so removing worker-2 from [control-plane, worker-1, worker-2, worker-3] would shift
// worker-3's address and pod CIDR; `stabilize` keeps every remembered node's values (unless the
// YAML sets them) and derives new nodes around them. A removed node's values stay taken until
// `kubelab node remove` / `up --prune` forgets it.

import { existsSync } from 'node:fs'
import path from 'node:path'
import * as cidr from '../config/cidr.ts'
import type { LoadedConfig } from '../config/load.ts'
import { derivePodCidrs, deriveAddresses } from '../config/resolve.ts'
import type { ClusterConfig, NodeSpec } from '../config/types.ts'
import { UsageError } from '../errors.ts'
import { readJsonFile, writeJsonFile } from '../host/files.ts'
import { providerTraits } from '../providers/traits.ts'

export interface Allocations {
  /** The Kubernetes version the cluster was last converged or upgraded to. */
  version?: string
  nodes: Record<string, { address: string; podCIDR: string }>
}

const file = (stateDir: string) => path.join(stateDir, 'lifecycle.json')

/** The remembered allocations; a damaged file is a StateError (starting over would move nodes to new addresses and pod CIDRs). */
export function readAllocations(stateDir: string): Allocations {
  const a = readJsonFile<Allocations>(file(stateDir), "each node's remembered address and pod CIDR")
  return a ? { ...a, nodes: a.nodes ?? {} } : { nodes: {} }
}

function write(stateDir: string, a: Allocations): void {
  if (!existsSync(stateDir)) return // `down` removed the cluster: nothing to remember
  writeJsonFile(file(stateDir), a)
}

/** Remembers every config node's address and pod CIDR (and, once converged, the version). */
export function remember(stateDir: string, config: ClusterConfig, o: { version?: boolean } = {}): void {
  const a = readAllocations(stateDir)
  for (const n of config.nodes) a.nodes[n.name] = { address: n.address, podCIDR: n.podCIDR }
  if (o.version) a.version = config.kubernetes.version
  write(stateDir, a)
}

export function forget(stateDir: string, name: string): void {
  const a = readAllocations(stateDir)
  if (!(name in a.nodes)) return
  delete a.nodes[name]
  write(stateDir, a)
}

/**
 * The config with remembered addresses and pod CIDRs kept (pure apart from the input). Values the
 * YAML sets win; nodes new to the cluster get derived values that avoid every remembered one.
 */
export function stabilizeWith(loaded: Pick<LoadedConfig, 'config' | 'input'>, remembered: Allocations): ClusterConfig {
  const { config, input } = loaded
  const names = new Set(config.nodes.map((n) => n.name))
  const others = Object.entries(remembered.nodes).filter(([n]) => !names.has(n)).map(([, v]) => v)
  if (Object.keys(remembered.nodes).length === 0) return config
  const assignsAddresses = providerTraits(config.provider.type).assignsAddresses
  const explicitPod = input.nodes.map((n) => n.podCIDR ?? remembered.nodes[n.name]?.podCIDR)
  const clusterCidr = cidr.parseCidr(config.kubernetes.clusterCIDR)
  const network = cidr.parseCidr(config.provider.network)
  if (!clusterCidr.ok || !network.ok) return config
  const pods = derivePodCidrs(clusterCidr.cidr, config.kubernetes.nodeCIDRMaskSize, [...explicitPod, ...others.map((o) => o.podCIDR)])
  const addrs = assignsAddresses
    ? deriveAddresses(network.cidr, [...input.nodes.map((n) => n.address ?? remembered.nodes[n.name]?.address), ...others.map((o) => o.address)])
    : config.nodes.map((n) => n.address)
  const nodes: NodeSpec[] = config.nodes.map((n, i) => ({
    ...n,
    podCIDR: pods[i] ? cidr.formatCidr(pods[i]!) : n.podCIDR,
    address: addrs[i] ?? n.address,
  }))
  const clash = (key: 'podCIDR' | 'address') => {
    const seen = new Map<string, string>()
    for (const n of nodes) {
      const prev = seen.get(n[key])
      if (prev) return `${prev} and ${n.name} both get ${key} ${n[key]}`
      seen.set(n[key], n.name)
    }
    for (const n of nodes) {
      const o = Object.entries(remembered.nodes).find(([name, v]) => !names.has(name) && v[key] === n[key])
      if (o) return `${n.name} sets ${key} ${n[key]}, which removed node ${o[0]} still holds`
    }
    return undefined
  }
  const problem = clash('podCIDR') ?? clash('address')
  if (problem) {
    throw new UsageError(`${problem} (the cluster remembers what each node was given)`, {
      hint: 'give the node another value, or finish removing the old node first: kubelab up --prune',
    })
  }
  return { ...config, nodes }
}

export function stabilize(loaded: Pick<LoadedConfig, 'config' | 'input'>, stateDir: string): ClusterConfig {
  return stabilizeWith(loaded, readAllocations(stateDir))
}
