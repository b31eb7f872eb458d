// `kubelab up`: flags in, the whole sequence in lib/up.ts, the machines table (or --json) out.
// `kubelab stop` / `kubelab start`: the machines shut down with disks, addresses and state kept,
// and brought back (start is `up` without the smoke suite: the same cluster, converged again).

import { withClusterLock } from '../lib/cluster.ts'
import { stopServiceForwards } from '../lib/services/forwards.ts'
import { up } from '../lib/up.ts'
import { machinesTable } from './machines.ts'
import { openClusterFor, printJson, type CommandContext, type FlagDecls, type FlagValues } from './context.ts'

export const upFlags = {
  'machines-only': { type: 'boolean', help: 'provision the machines and stop there' },
  until: { type: 'string', arg: 'STEP', help: 'converge up to and including STEP (ids: kubelab plan)' },
  prune: { type: 'boolean', help: 'remove machines (cordon, drain, delete) whose nodes left the config' },
  'no-smoke': { type: 'boolean', help: 'skip the smoke suite at the end' },
  junit: { type: 'string', arg: 'FILE', help: 'write the JUnit report of the smoke suite to FILE' },
  keep: { type: 'boolean', help: 'leave the smoke workloads (namespace kubelab-smoke) for debugging' },
  'install-deps': { type: 'boolean', help: 'as root on Debian/Ubuntu: install the host packages preflight finds missing, then go on' },
} as const satisfies FlagDecls

export async function upCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof upFlags>): Promise<number> {
  const c = openClusterFor(ctx)
  const r = await up(c, {
    machinesOnly: flags.machinesOnly,
    ...(flags.until ? { until: flags.until } : {}),
    prune: flags.prune,
    smoke: !flags.noSmoke,
    smokeOptions: { keep: flags.keep, ...(flags.junit ? { junit: flags.junit } : {}) },
    installDeps: flags.installDeps,
  })
  if (ctx.options.json) printJson(ctx, { cluster: c.config.name, provider: c.choice.type, machines: r.machines })
  else ctx.out(machinesTable(r.machines))
  if (r.smokeFailed) ctx.progress.info(`up: the cluster is up, but ${r.smokeFailed} smoke check${r.smokeFailed === 1 ? '' : 's'} failed (see above); kubelab smoke re-runs them`)
  return r.smokeFailed ? 1 : 0
}

export async function stopCommand(ctx: CommandContext): Promise<number> {
  const c = openClusterFor(ctx)
  await withClusterLock(c, 'stop', async () => {
    const n = (await c.provider.list()).filter((m) => m.state === 'running').length
    await stopServiceForwards(c.stateDir)
    await ctx.progress.step(`Stopping ${n} ${c.choice.type} machine${n === 1 ? '' : 's'} (disks and state kept: kubelab start)`, () => c.provider.stop())
  })
  return 0
}

export async function startCommand(ctx: CommandContext): Promise<number> {
  const c = openClusterFor(ctx)
  const r = await up(c, { smoke: false })
  if (ctx.options.json) printJson(ctx, { cluster: c.config.name, provider: c.choice.type, machines: r.machines })
  else ctx.out(machinesTable(r.machines))
  return 0
}
