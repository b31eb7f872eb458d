// `kubelab node remove NAME`: removes a worker that is no longer in the config (cordon, drain,
// Node object deleted, machine destroyed, routes dropped, state forgotten). A node still in the
// config is refused: the config is the truth, and the next `up` would bring it back.

import { cacheDir } from '../lib/artifacts/cache.ts'
import { UsageError } from '../lib/errors.ts'
import { checkRemovable } from '../lib/lifecycle/prune.ts'
import { removeNodes } from '../lib/lifecycle/remove.ts'
import { clusterLock, openCluster } from './machines.ts'
import { printJson, type CommandContext } from './context.ts'

export async function nodeRemoveCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [name, ...rest] = args
  if (!name || rest.length > 0) throw new UsageError('kubelab node remove needs exactly one node name: kubelab node remove NAME')
  const { config, provider, stateDir } = openCluster(ctx)
  const removed = await clusterLock(ctx, config, 'node remove', async () => {
    const machines = await provider.list()
    const why = checkRemovable(config, machines, name)
    if (why) throw new UsageError(`cannot remove ${name}: ${why}`)
    return removeNodes({ config, provider, stateDir, cacheDir: cacheDir(ctx.env), progress: ctx.progress }, [name])
  })
  if (ctx.options.json) printJson(ctx, { cluster: config.name, removed })
  else ctx.out(`removed ${removed.map((r) => r.node).join(', ')}`)
  return 0
}
