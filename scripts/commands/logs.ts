// `kubelab logs [NODE] -o DIR`: the logs bundle of a cluster (every node, or one node plus the
// cluster-wide reads through the control plane). A node that cannot be opened is a problem in the
// bundle, not a failure of the command. --json prints the index.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { UsageError } from '../lib/errors.ts'
import { writeLogsBundle } from '../lib/logs/bundle.ts'
import { closeNodes, openNodes } from '../lib/node/open.ts'
import type { NodeHandle } from '../lib/node/types.ts'
import { openClusterFor, printJson, type CommandContext, type FlagDecls, type FlagValues } from './context.ts'

export const logsFlags = {
  output: { type: 'string', short: 'o', arg: 'DIR', help: 'the bundle directory (default kubelab-logs-<cluster>-<time>)' },
} as const satisfies FlagDecls

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
}

export async function logsCommand(ctx: CommandContext, args: string[], flags: FlagValues<typeof logsFlags>): Promise<number> {
  if (args.length > 1) throw new UsageError(`logs takes at most one node name, got: ${args.join(' ')}`, { hint: 'kubelab logs [NODE] -o DIR' })
  const { config, provider, stateDir } = openClusterFor(ctx)
  const only = args[0]
  if (only !== undefined && !config.nodes.some((n) => n.name === only)) {
    throw new UsageError(`no node "${only}" in cluster "${config.name}" (nodes: ${config.nodes.map((n) => n.name).join(', ')})`)
  }
  const dir = path.resolve(flags.output ?? `kubelab-logs-${config.name}-${stamp()}`)
  const cpSpec = config.nodes.find((n) => n.role === 'control-plane')
  // Which nodes to open: the asked-for node (or all), plus the control plane for the cluster-wide reads.
  const wanted = config.nodes.filter((n) => only === undefined || n.name === only || n === cpSpec)
  const machines = await provider.list()
  const problems: string[] = []
  const opened = await Promise.all(wanted.map(async (spec): Promise<NodeHandle | undefined> => {
    try {
      return (await openNodes({ ...config, nodes: [spec] }, machines, stateDir, ctx.progress))[0]
    } catch (err) {
      problems.push(`${spec.name}: cannot open the node: ${(err as Error).message.split('\n')[0]}`)
      return undefined
    }
  }))
  const handles = opened.filter((h): h is NodeHandle => h !== undefined)
  try {
    const nodes = handles.filter((h) => only === undefined || h.spec.name === only)
    const cp = handles.find((h) => h.spec.role === 'control-plane')
    const bundle = await writeLogsBundle({ config, nodes, dir, progress: ctx.progress, provider: provider.info(), ...(cp ? { controlPlane: cp } : {}), problems })
    for (const p of bundle.problems) ctx.progress.warn(p)
    if (ctx.options.json) printJson(ctx, JSON.parse(readFileSync(path.join(bundle.dir, 'index.json'), 'utf8')))
    else ctx.out(`${bundle.dir} (${bundle.files.length} files${bundle.problems.length ? `, ${bundle.problems.length} problems: see index.json` : ''})`)
    return 0
  } finally {
    closeNodes(handles)
  }
}
