// network:pod-routes — on every node, a route to each other node's pod CIDR via that node's
// address (the bridge CNI gives pods addresses only from their own node's CIDR). Persistent: a
// oneshot unit re-applies them at boot. Routes to pod CIDRs no longer in the config (a removed
// node) are deleted — only inside the cluster CIDR, never the node's own CIDR, never other routes.
// The same script masquerades pods' traffic leaving the cluster CIDR (and only that).

import * as cidr from '../config/cidr.ts'
import { quoteSh } from '../remote/quote.ts'
import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES } from '../templates/table.ts'
import { differingFiles, writeFiles, type WantedFile } from '../converge/files.ts'
import type { Step, StepContext } from '../converge/step.ts'
import type { NodeHandle } from '../node/types.ts'

function routes(ctx: StepContext, node: NodeHandle): { cidr: string; via: string }[] {
  return ctx.config.nodes.filter((n) => n.name !== node.spec.name).map((n) => ({ cidr: n.podCIDR, via: n.address }))
}

/**
 * Destinations in `ip -4 route show` output that are stale pod routes: inside the cluster CIDR,
 * not this node's own pod CIDR, and not wanted (pure; exported for the unit test).
 */
export function staleRoutes(table: string, o: { clusterCIDR: string; own: string; wanted: readonly string[] }): string[] {
  const cluster = cidr.parseCidr(o.clusterCIDR)
  if (!cluster.ok) return []
  return table.split('\n').flatMap((line) => {
    const dest = line.trim().split(/\s+/)[0] ?? ''
    const parsed = cidr.parseCidr(dest.includes('/') ? dest : `${dest}/32`)
    if (!parsed.ok || !cidr.contains(cluster.cidr, parsed.cidr)) return []
    const text = cidr.formatCidr(parsed.cidr)
    if (text === o.own || o.wanted.includes(text) || line.includes(' dev cni0') || / proto kernel /.test(line)) return []
    return [dest]
  })
}

function stale(ctx: StepContext, node: NodeHandle, table: string): string[] {
  return staleRoutes(table, { clusterCIDR: ctx.config.kubernetes.clusterCIDR, own: node.spec.podCIDR, wanted: routes(ctx, node).map((r) => r.cidr) })
}

/** The script's body: one `ip route replace` per route, every value one quoted sh word (pure). */
export function routeLines(list: readonly { cidr: string; via: string }[]): string {
  return list.map((r) => `ip route replace ${quoteSh(r.cidr)} via ${quoteSh(r.via)}`).join('\n') || ':'
}

/**
 * Pods' traffic that leaves the cluster's pod network goes out as the node (what kind's
 * ip-masq-agent does); traffic to pods on other nodes keeps the pod's address, which NetworkPolicy
 * needs to tell one client from another (the bridge plugin's own ipMasq masqueraded that too, so it
 * is off: templates/files.ts cniConflist). Added once (-C first), again at every boot (pure).
 */
export function masqueradeLine(podCIDR: string, clusterCIDR: string): string {
  const rule = `POSTROUTING -s ${quoteSh(podCIDR)} ! -d ${quoteSh(clusterCIDR)} -m comment --comment kubelab-pod-masquerade -j MASQUERADE`
  return `iptables -w -t nat -C ${rule} 2>/dev/null || iptables -w -t nat -A ${rule}`
}

function files(ctx: StepContext, node: NodeHandle): WantedFile[] {
  const script = INSTALLED_FILES['network/kubelab-pod-routes']
  const unit = INSTALLED_FILES['systemd/kubelab-pod-routes.service']
  const lines = `${routeLines(routes(ctx, node))}\n${masqueradeLine(node.spec.podCIDR, ctx.config.kubernetes.clusterCIDR)}`
  return [
    { path: script.dest, content: renderTemplate('network/kubelab-pod-routes', { routes: lines }), mode: script.mode },
    { path: unit.dest, content: renderTemplate('systemd/kubelab-pod-routes.service', {}), mode: unit.mode },
  ]
}

export const networkPodRoutes: Step = {
  id: 'network:pod-routes',
  title: 'Routing pod CIDRs between nodes',
  on: 'all',
  after: ['os:prep'],
  async check(ctx, node) {
    if ((await differingFiles(node.runner, files(ctx, node))).length > 0) return false
    const want = routes(ctx, node)
    const table = (await node.runner.$`ip -4 route show`).stdout
    if (stale(ctx, node, table).length > 0) return false
    const live = want.every((r) => table.split('\n').some((l) => l.startsWith(`${r.cidr} via ${r.via} `)))
    return live && node.runner.test`systemctl is-enabled --quiet kubelab-pod-routes`
  },
  async apply(ctx, node) {
    const changed = await writeFiles(node.runner, files(ctx, node))
    if (changed.length > 0) await node.runner.$`systemctl daemon-reload`
    await node.runner.$`systemctl enable --quiet kubelab-pod-routes && systemctl restart kubelab-pod-routes`
    const gone = stale(ctx, node, (await node.runner.$`ip -4 route show`).stdout)
    if (gone.length > 0) await node.runner.$`for r in ${gone}; do ip route del "$r"; done`
  },
}
