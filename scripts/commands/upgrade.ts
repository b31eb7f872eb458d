// `kubelab upgrade`: the cluster to the config's kubernetes.version (skew policy first, control
// plane, then workers one at a time with cordon/drain). `kubelab upgrade --os`: the nodes' OS
// packages with the same discipline, where a node reaches its package source.

import { upgradeOs } from '../lib/lifecycle/os.ts'
import { upgradeCluster } from '../lib/lifecycle/upgrade.ts'
import { withClusterLock } from '../lib/cluster.ts'
import { openClusterFor, printJson, type CommandContext, type FlagDecls, type FlagValues } from './context.ts'

export const upgradeFlags = {
  os: { type: 'boolean', help: 'OS packages (apt-get upgrade) node by node instead of Kubernetes' },
} as const satisfies FlagDecls

export async function upgradeCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof upgradeFlags>): Promise<number> {
  const cluster = openClusterFor(ctx)
  const { config } = cluster
  if (flags.os) {
    const outcomes = await withClusterLock(cluster, 'upgrade --os', () => upgradeOs(cluster))
    if (ctx.options.json) printJson(ctx, { cluster: config.name, os: outcomes })
    else ctx.out(outcomes.map((o) => (o.result === 'skipped' ? `${o.node}: skipped: ${o.reason}` : `${o.node}: ${o.packages} packages upgraded${o.rebootRequired ? ' (reboot required)' : ''}`)).join('\n'))
    return 0
  }
  const r = await withClusterLock(cluster, 'upgrade', () => upgradeCluster(cluster))
  if (ctx.options.json) printJson(ctx, { cluster: config.name, target: r.plan.target, upgraded: r.upgraded, skew: r.plan.verdict })
  else ctx.out(r.upgraded.length ? `upgraded to ${r.plan.target}: ${r.upgraded.join(', ')}` : `already at ${r.plan.target}`)
  return 0
}
