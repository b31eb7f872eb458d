// runtime:images — every local image (the sandbox image under the exact name containerd's config
// pins, and the workload images: testbox, coredns) imported into containerd's k8s.io namespace, so
// CRI never tries to pull them. Re-run check: one `ctr images ls`, each ref at its digest.

import type { LocalImage } from '../images/sandbox.ts'
import { stepInfo } from './index.ts'
import { BIN_DIR } from './runtime-containerd.ts'
import type { NodeHandle, Step } from './types.ts'

const NODE_DIR = '/var/lib/kubelab/images'

/** The images not yet in containerd at their digest. */
async function missing(images: readonly LocalImage[], node: NodeHandle): Promise<LocalImage[]> {
  if (images.length === 0) return []
  const listed = (await node.runner.$`${BIN_DIR}/ctr -n k8s.io images ls`).stdout.split('\n')
  return images.filter((i) => !listed.some((l) => l.startsWith(`${i.ref} `) && l.includes(i.digest)))
}

export const runtimeImages: Step = {
  ...stepInfo('runtime:images'),
  check: async (ctx, node) => (await missing(ctx.images ?? [], node)).length === 0,
  async apply(ctx, node) {
    for (const image of await missing(ctx.images ?? [], node)) {
      const remote = `${NODE_DIR}/${image.tar.split('/').pop()}`
      await node.runner.upload(image.tar, remote, image.sha256)
      await node.runner.$`${BIN_DIR}/ctr -n k8s.io images import --local ${remote} >/dev/null`
    }
  },
}
