// runtime:images — the sandbox image, under the exact name containerd's config pins, imported into
// containerd's k8s.io namespace before kubelet starts: every pod's sandbox needs it, and in
// external mode the control plane may place DaemonSet pods on the node as soon as it registers.
// The workload images (testbox, coredns) are runtime:workload-images, which runs beside the join.
// Re-run check: one `ctr images ls`, each ref at its digest.

import type { LocalImage } from '../images/sandbox.ts'
import type { Step } from '../converge/step.ts'
import { CTR, IMAGES_DIR } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'
import { SANDBOX_IMAGE } from '../templates/files.ts'

/** The images not yet in containerd at their digest. */
async function missing(images: readonly LocalImage[], node: NodeHandle): Promise<LocalImage[]> {
  if (images.length === 0) return []
  const listed = (await node.runner.$`${CTR} -n k8s.io images ls`).stdout.split('\n')
  return images.filter((i) => !listed.some((l) => l.startsWith(`${i.ref} `) && l.includes(i.digest)))
}

/** Imports `images` that containerd does not hold yet (upload of the archive, then `ctr images import`). */
export async function importImages(images: readonly LocalImage[], node: NodeHandle): Promise<void> {
  for (const image of await missing(images, node)) {
    const remote = `${IMAGES_DIR}/${image.tar.split('/').pop()}`
    await node.runner.upload(image.tar, remote, image.sha256)
    await node.runner.$`${CTR} -n k8s.io images import --local ${remote} >/dev/null`
  }
}

/** True when every one of `images` is in containerd at its digest. */
export async function imagesPresent(images: readonly LocalImage[], node: NodeHandle): Promise<boolean> {
  return (await missing(images, node)).length === 0
}

export const sandboxImages = (images: readonly LocalImage[]) => images.filter((i) => i.ref === SANDBOX_IMAGE)
export const workloadImages = (images: readonly LocalImage[]) => images.filter((i) => i.ref !== SANDBOX_IMAGE)

export const runtimeImages: Step = {
  id: 'runtime:images',
  title: 'Importing the sandbox image (pause)',
  on: 'all',
  after: ['runtime:containerd'],
  check: (ctx, node) => imagesPresent(sandboxImages(ctx.images), node),
  apply: (ctx, node) => importImages(sandboxImages(ctx.images), node),
}
