// `kubelab addons [--json]`: every addon (addons/index.ts) with its switch in the config and its
// state in the cluster (applied, ready, what was seen). Without a reachable cluster the config's
// switches are still listed, the cluster state as unknown.

import { ADDONS } from '../lib/addons/index.ts'
import { addonStates } from '../lib/addons/state.ts'
import type { AddonState } from '../lib/addons/types.ts'
import { hostKubectl } from '../lib/cluster.ts'
import { addonEnabled } from '../lib/config/types.ts'
import { openClusterFor, printJson, type CommandContext } from './context.ts'

export async function addonsCommand(ctx: CommandContext): Promise<number> {
  const cluster = openClusterFor(ctx)
  const { config } = cluster
  let states: Map<string, AddonState> | undefined
  let unreachable = ''
  try {
    states = await addonStates(ADDONS, config, (args) => hostKubectl(cluster, args, { capture: true }))
  } catch (err) {
    unreachable = err instanceof Error ? err.message.split('\n')[0]! : String(err)
  }
  const rows = ADDONS.map((a) => {
    const s = states?.get(a.name)
    return { name: a.name, enabled: addonEnabled(config, a.name), applied: s?.applied ?? null, ready: s?.ready ?? null, detail: s?.detail ?? `cluster not reachable: ${unreachable}`, summary: a.summary, upstream: a.upstream }
  })
  if (ctx.options.json) {
    printJson(ctx, { cluster: config.name, addons: rows })
    return 0
  }
  ctx.out(addonsTable(rows))
  return 0
}

/** The text table: one row per addon; `?` where the cluster could not be read. */
export function addonsTable(rows: readonly { name: string; enabled: boolean; applied: boolean | null; ready: boolean | null; detail: string }[]): string {
  const yes = (v: boolean | null) => (v === null ? '?' : v ? 'yes' : 'no')
  const w = Math.max(...rows.map((r) => r.name.length), 4)
  return [
    `${'NAME'.padEnd(w)}  ENABLED  APPLIED  READY  DETAIL`,
    ...rows.map((r) => `${r.name.padEnd(w)}  ${yes(r.enabled).padEnd(7)}  ${yes(r.applied).padEnd(7)}  ${yes(r.ready).padEnd(5)}  ${r.detail}`),
  ].join('\n')
}
