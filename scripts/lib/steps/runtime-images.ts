// runtime:images — the sandbox image, under the exact name containerd's config pins, imported into
// containerd's k8s.io namespace before kubelet starts: every pod's sandbox needs it, and in
// external mode the control plane may place DaemonSet pods on the node as soon as it registers.
// The workload images (testbox, coredns, the addons') are runtime:workload-images, which runs
// beside the join; both steps are made by `imageStep` here. Re-run check: one `ctr images ls` per
// node, shared by the two steps within a round of checks, each ref at its digest.

import type { Step, StepContext } from '../converge/step.ts'
import { lacking } from '../images/import.ts'
import { parseCtrImages, type NodeImage } from '../images/load.ts'
import type { LocalImage } from '../images/sandbox.ts'
import { CTR, IMAGES_DIR } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'
import type { Result } from '../remote/types.ts'
import { SANDBOX_IMAGE } from '../templates/files.ts'

/** What containerd holds on the node; read once per node within a round of checks (ctx.reads). */
async function listed(ctx: StepContext, node: NodeHandle): Promise<NodeImage[]> {
  const key = `ctr images ls@${node.spec.name}`
  let read = ctx.reads?.get(key) as Promise<Result> | undefined
  if (!read) {
    read = node.runner.$`${CTR} -n k8s.io images ls`
    ctx.reads?.set(key, read)
  }
  return parseCtrImages((await read).stdout)
}

/** The images not yet in containerd at their digest. */
async function missing(ctx: StepContext, node: NodeHandle, images: readonly LocalImage[]): Promise<LocalImage[]> {
  if (images.length === 0) return []
  const have = await listed(ctx, node)
  return images.filter((image) => lacking(have, { image, aliases: [] }).image)
}

/** A step that imports the local images `pick` chooses (upload of the archive, then `ctr images import`). */
export function imageStep(o: { id: string; title: string; after: string[]; establishes?: Step['establishes']; pick: (images: readonly LocalImage[], node: NodeHandle) => LocalImage[] }): Step {
  return {
    id: o.id,
    title: o.title,
    on: 'all',
    after: o.after,
    ...(o.establishes ? { establishes: o.establishes } : {}),
    check: async (ctx, node) => (await missing(ctx, node, o.pick(ctx.images, node))).length === 0,
    async apply(ctx, node) {
      for (const image of await missing(ctx, node, o.pick(ctx.images, node))) {
        // In the host's cache, shared read-only into the machine: imported from there, with no
        // copy (the archive is the host's own, hashed when it was written); else uploaded first.
        let from = node.runner.sharedPath?.(image.tar)
        if (!from) {
          from = `${IMAGES_DIR}/${image.tar.split('/').pop()}`
          await node.runner.upload(image.tar, from, image.sha256)
        }
        await node.runner.$`${CTR} -n k8s.io images import --local ${from} >/dev/null`
      }
    },
  }
}

export const runtimeImages = imageStep({
  id: 'runtime:images',
  title: 'Importing the sandbox image (pause)',
  after: ['runtime:containerd'],
  pick: (images) => images.filter((i) => i.ref === SANDBOX_IMAGE),
})
