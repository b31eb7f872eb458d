// runtime:images — every local image (the sandbox image under the exact name containerd's config
// pins, and the workload images: testbox, coredns) imported into containerd's k8s.io namespace, so
// CRI never tries to pull them. Re-run check: one `ctr images ls`, each ref at its digest.

import type { LocalImage } from '../images/sandbox.ts'
import type { Step } from '../converge/step.ts'
import { CTR, IMAGES_DIR } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'

/** The images not yet in containerd at their digest. */
async function missing(images: readonly LocalImage[], node: NodeHandle): Promise<LocalImage[]> {
  if (images.length === 0) return []
  const listed = (await node.runner.$`${CTR} -n k8s.io images ls`).stdout.split('\n')
  return images.filter((i) => !listed.some((l) => l.startsWith(`${i.ref} `) && l.includes(i.digest)))
}

export const runtimeImages: Step = {
  id: 'runtime:images',
  title: 'Importing local images (pause, testbox, coredns)',
  on: 'all',
  after: ['runtime:containerd'],
  check: async (ctx, node) => (await missing(ctx.images, node)).length === 0,
  async apply(ctx, node) {
    for (const image of await missing(ctx.images, node)) {
      const remote = `${IMAGES_DIR}/${image.tar.split('/').pop()}`
      await node.runner.upload(image.tar, remote, image.sha256)
      await node.runner.$`${CTR} -n k8s.io images import --local ${remote} >/dev/null`
    }
  },
}
