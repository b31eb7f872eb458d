// `kubelab node remove NAME`: removes a worker that is no longer in the config (cordon, drain,
// Node object deleted, machine destroyed, routes dropped, state forgotten). A node still in the
// config is refused: the config is the truth, and the next `up` would bring it back.

import { UsageError } from '../lib/errors.ts'
import { checkRemovable } from '../lib/lifecycle/prune.ts'
import { removeNodes } from '../lib/lifecycle/remove.ts'
import { withClusterLock } from '../lib/cluster.ts'
import { openClusterFor, printJson, type CommandContext } from './context.ts'

export async function nodeRemoveCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [name, ...rest] = args
  if (!name || rest.length > 0) throw new UsageError('kubelab node remove needs exactly one node name: kubelab node remove NAME')
  const c = openClusterFor(ctx)
  const { config } = c
  const removed = await withClusterLock(c, 'node remove', async () => {
    const machines = await c.provider.list()
    const why = checkRemovable(config, machines, name)
    if (why) throw new UsageError(`cannot remove ${name}: ${why}`)
    return removeNodes(c, [name])
  })
  if (ctx.options.json) printJson(ctx, { cluster: config.name, removed })
  else ctx.out(`removed ${removed.map((r) => r.node).join(', ')}`)
  return 0
}
