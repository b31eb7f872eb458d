// `kubelab plan`: per node, the ordered steps `up` would run; with machines running, each step's
// read-only check says "unchanged" or "would change" (plan-live.ts), plus the upgrade dry run.

import { cacheDir } from '../lib/artifacts/cache.ts'
import { liveKube } from '../lib/lifecycle/session.ts'
import { formatUpgradePlan, upgradePlan, type UpgradePlan } from '../lib/lifecycle/upgrade.ts'
import { formatPlan, makePlan, planToJson } from '../lib/plan.ts'
import { liveStepStatus } from '../lib/plan-live.ts'
import { printJson, type CommandContext } from './context.ts'
import { openCluster } from './machines.ts'

/** When the cluster runs: its versions now -> the config's, with the skew verdict (the upgrade dry run). */
async function liveUpgradePlan(ctx: CommandContext, opened: ReturnType<typeof openCluster>): Promise<UpgradePlan | undefined> {
  const machines = await opened.provider.list().catch(() => [])
  if (!machines.some((m) => m.role === 'control-plane' && m.state === 'running')) return undefined
  const c = { ...opened, cacheDir: cacheDir(ctx.env), progress: ctx.progress }
  const kube = await liveKube(c, machines)
  if (!kube) return undefined
  try {
    return await upgradePlan(c, kube)
  } finally {
    kube.close()
  }
}

export async function planCommand(ctx: CommandContext): Promise<number> {
  const opened = openCluster(ctx)
  const plan = makePlan(opened.config)
  const machines = await opened.provider.list().catch(() => [])
  const live = await liveStepStatus({ config: opened.config, machines, stateDir: opened.stateDir, cacheDir: cacheDir(ctx.env), progress: ctx.progress })
  if (live) plan.live = live
  const upgrade = await liveUpgradePlan(ctx, opened)
  if (ctx.options.json) printJson(ctx, { ...planToJson(plan), ...(upgrade ? { upgrade } : {}) })
  else ctx.out(upgrade ? `${formatPlan(plan)}\n\n${formatUpgradePlan(upgrade)}` : formatPlan(plan))
  return 0
}
