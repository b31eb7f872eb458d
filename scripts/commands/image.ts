// `kubelab image load REF|FILE... [--node NAME...]` and `kubelab image ls [--json]`: your own
// images into containerd's k8s.io namespace on the nodes (like `kind load docker-image`), and what
// each node holds. lib/images/ does the work; this parses, opens the nodes and prints.

import { rm } from 'node:fs/promises'
import { withClusterLock } from '../lib/cluster.ts'
import { UsageError } from '../lib/errors.ts'
import { closeArchive } from '../lib/images/archive.ts'
import { listNodeImages, loadImages, readInputs, resolveInput, type ImageInput } from '../lib/images/load.ts'
import { closeNodes, openNodes } from '../lib/node/open.ts'
import { openClusterFor, printJson, table, type CommandContext, type FlagDecls, type FlagValues } from './context.ts'

export const imageLoadFlags = {
  node: { type: 'string', multiple: true, arg: 'NAME', help: 'only this node (repeatable; default every node)' },
} as const satisfies FlagDecls

/** The nodes named by --node (every node without it); an unknown name is a usage error. */
function selectNodes<T extends { name: string }>(all: readonly T[], wanted: readonly string[], cluster: string): T[] {
  const unknown = wanted.filter((w) => !all.some((n) => n.name === w))
  if (unknown.length) throw new UsageError(`no node ${unknown.map((u) => `"${u}"`).join(', ')} in cluster "${cluster}" (nodes: ${all.map((n) => n.name).join(', ')})`)
  return wanted.length ? all.filter((n) => wanted.includes(n.name)) : [...all]
}

export async function imageLoadCommand(ctx: CommandContext, args: string[], flags: FlagValues<typeof imageLoadFlags>): Promise<number> {
  if (args.length === 0) throw new UsageError('image load needs at least one archive or image reference', { hint: 'kubelab image load app.tar [--node NAME]' })
  const c = openClusterFor(ctx)
  const specs = selectNodes(c.config.nodes, flags.node, c.config.name)
  const inputs: ImageInput[] = []
  try {
    for (const a of args) inputs.push(await resolveInput(a, ctx.progress))
    // Every input read and checked before a node is touched.
    const archives = await readInputs(inputs)
    try {
      const results = await withClusterLock(c, 'image load', async () => {
        const nodes = await openNodes({ ...c.config, nodes: specs }, await c.provider.list(), c.stateDir, ctx.progress)
        try {
          return await loadImages({ nodes, archives, progress: ctx.progress })
        } finally {
          closeNodes(nodes)
        }
      })
      const failed = results.flatMap((r) => r.failed)
      // A failed import is reported as the error (with --json: the one error document).
      if (failed.length) throw failed[0]!.error
      if (ctx.options.json) {
        printJson(ctx, { cluster: c.config.name, images: results.map((r) => ({ ref: r.ref, digest: r.digest, imported: r.imported, skipped: r.skipped })) })
      }
      return 0
    } finally {
      await Promise.all(archives.map(closeArchive))
    }
  } finally {
    await Promise.all(inputs.flatMap((i) => (i.temp ? [rm(i.temp, { recursive: true, force: true })] : [])))
  }
}

export async function imageLsCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const c = openClusterFor(ctx)
  const specs = selectNodes(c.config.nodes, args, c.config.name)
  const nodes = await openNodes({ ...c.config, nodes: specs }, await c.provider.list(), c.stateDir, ctx.progress)
  try {
    const listed = await listNodeImages(nodes)
    if (ctx.options.json) {
      printJson(ctx, { cluster: c.config.name, nodes: listed.map((l) => ({ name: l.node, images: l.images })) })
      return 0
    }
    ctx.out(table([['NODE', 'REF', 'DIGEST', 'SIZE'], ...listed.flatMap((l) => l.images.map((i) => [l.node, i.ref, i.digest.slice(0, 19), i.size]))]))
    return 0
  } finally {
    closeNodes(nodes)
  }
}
