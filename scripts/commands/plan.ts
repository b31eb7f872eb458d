// `kubelab plan`: per node, the ordered steps `up` would run; with machines running, each step's
// read-only check says "unchanged" or "would change" (plan-live.ts), plus the upgrade dry run; what
// the cache lacks is named ("would build kubernetes v1.35.4 (about 6 min)"), never built.

import type { Cluster } from '../lib/cluster.ts'
import { liveKube } from '../lib/lifecycle/session.ts'
import { formatUpgradePlan, upgradePlan, type UpgradePlan } from '../lib/lifecycle/upgrade.ts'
import { formatPlan, makePlan, planToJson } from '../lib/plan.ts'
import { cacheGaps } from '../lib/converge/inputs.ts'
import { liveStepStatus } from '../lib/plan-live.ts'
import { openClusterFor, printJson, type CommandContext } from './context.ts'

/** When the cluster runs: its versions now -> the config's, with the skew verdict (the upgrade dry run). */
async function liveUpgradePlan(c: Cluster): Promise<UpgradePlan | undefined> {
  const machines = await c.provider.list().catch(() => [])
  if (!machines.some((m) => m.role === 'control-plane' && m.state === 'running')) return undefined
  const kube = await liveKube(c, machines)
  if (!kube) return undefined
  try {
    return await upgradePlan(c, kube)
  } finally {
    kube.close()
  }
}

export async function planCommand(ctx: CommandContext): Promise<number> {
  const opened = openClusterFor(ctx)
  const plan = makePlan(opened.config)
  const machines = await opened.provider.list().catch(() => [])
  // Read-only: what the cache lacks is named (and the live checks, which need it, are skipped).
  const gaps = await cacheGaps(opened.config, opened.cacheDir)
  if (gaps.length) plan.wouldMake = gaps
  const live = gaps.length ? undefined : await liveStepStatus({ config: opened.config, machines, stateDir: opened.stateDir, cacheDir: opened.cacheDir, progress: ctx.progress })
  if (live) plan.live = live
  const upgrade = await liveUpgradePlan(opened)
  if (ctx.options.json) printJson(ctx, { ...planToJson(plan), ...(upgrade ? { upgrade } : {}) })
  else ctx.out(upgrade ? `${formatPlan(plan)}\n\n${formatUpgradePlan(upgrade)}` : formatPlan(plan))
  return 0
}
