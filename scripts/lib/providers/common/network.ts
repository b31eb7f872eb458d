// The lab network of a cluster of local machines, entirely inside network namespaces kubelab
// creates: one lab namespace holding the bridge (its address is the gateway); nspawn nodes get a
// namespace each joined to the bridge by a veth pair, QEMU VMs a tap on it. Nothing is added to the
// host's own namespace.

import { existsSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { host, hostOk } from '../../host/exec.ts'

export const BRIDGE = 'kl-br0'

export interface LabNames {
  lab: string
  node(name: string): string
}

/** Namespace names for a cluster: `kubelab-<cluster>` and `kubelab-<cluster>-<node>`. */
export function labNames(cluster: string): LabNames {
  return { lab: `kubelab-${cluster}`, node: (name) => `kubelab-${cluster}-${name}` }
}

/** The lab-side interface (veth or tap) of a node: interface names are at most 15 characters. */
export function vethName(node: string): string {
  return `kv${createHash('sha256').update(node).digest('hex').slice(0, 10)}`
}

export const netnsExists = (name: string) => existsSync(`/run/netns/${name}`)

export async function ensureLab(lab: string, gatewayCidr: string): Promise<void> {
  if (!netnsExists(lab)) await host`ip netns add ${lab}`
  await host`ip -n ${lab} link set lo up`
  if (!(await hostOk`ip -n ${lab} link show ${BRIDGE}`)) await host`ip -n ${lab} link add ${BRIDGE} type bridge`
  const addrs = (await host`ip -n ${lab} -o addr show dev ${BRIDGE}`).stdout
  if (!addrs.includes(` ${gatewayCidr} `)) await host`ip -n ${lab} addr add ${gatewayCidr} dev ${BRIDGE}`
  await host`ip -n ${lab} link set ${BRIDGE} up`
}

/** The node's namespace with eth0 = address/prefix, default route via the gateway. Idempotent. */
export async function ensureNodeNetwork(lab: string, nodeNs: string, node: string, addressCidr: string, gateway: string): Promise<void> {
  if (!netnsExists(nodeNs)) await host`ip netns add ${nodeNs}`
  await host`ip -n ${nodeNs} link set lo up`
  const veth = vethName(node)
  if (!(await hostOk`ip -n ${nodeNs} link show eth0`)) {
    await host`ip -n ${lab} link del ${veth}`.catch(() => undefined) // a half-made pair from an interrupted run
    await host`ip -n ${lab} link add ${veth} type veth peer name eth0 netns ${nodeNs}`
  }
  await host`ip -n ${lab} link set ${veth} master ${BRIDGE} up`
  const addrs = (await host`ip -n ${nodeNs} -o addr show dev eth0`).stdout
  if (!addrs.includes(` ${addressCidr} `)) await host`ip -n ${nodeNs} addr add ${addressCidr} dev eth0`
  await host`ip -n ${nodeNs} link set eth0 up`
  await host`ip -n ${nodeNs} route replace default via ${gateway} dev eth0`
}

export async function removeNamespace(name: string): Promise<void> {
  if (netnsExists(name)) await host`ip netns del ${name}`
}
