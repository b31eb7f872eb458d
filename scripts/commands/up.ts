// `kubelab up`: flags in, the whole sequence in lib/up.ts, the machines table (or --json) out.

import { up } from '../lib/up.ts'
import { machinesTable } from './machines.ts'
import { openClusterFor, printJson, type CommandContext, type CommandFlags } from './context.ts'

export async function upCommand(ctx: CommandContext, flags: CommandFlags = {}): Promise<number> {
  const c = openClusterFor(ctx)
  const r = await up(c, {
    machinesOnly: ctx.options.machinesOnly,
    ...(ctx.options.until ? { until: ctx.options.until } : {}),
    prune: ctx.options.prune ?? false,
    smoke: !flags.noSmoke,
    smokeOptions: { keep: flags.keep ?? false, ...(flags.junit ? { junit: flags.junit } : {}) },
  })
  if (ctx.options.json) printJson(ctx, { cluster: c.config.name, provider: c.choice.type, machines: r.machines })
  else ctx.out(machinesTable(r.machines))
  if (r.smokeFailed) ctx.progress.info(`up: the cluster is up, but ${r.smokeFailed} smoke check${r.smokeFailed === 1 ? '' : 's'} failed (see above); kubelab smoke re-runs them`)
  return r.smokeFailed ? 1 : 0
}
