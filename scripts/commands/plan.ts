// `kubelab plan`: per node, the ordered steps `up` would run, from the config alone.

import { formatPlan, makePlan, planToJson } from '../lib/plan.ts'
import { load, printJson, type CommandContext } from './context.ts'

export function planCommand(ctx: CommandContext): number {
  const plan = makePlan(load(ctx).config)
  if (ctx.options.json) printJson(ctx, planToJson(plan))
  else ctx.out(formatPlan(plan))
  return 0
}
