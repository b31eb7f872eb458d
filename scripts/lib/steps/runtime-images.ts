// runtime:images — the sandbox (pause) image imported into containerd's k8s.io namespace, under
// the exact name containerd's config pins, so CRI never tries to pull it.

import { stepInfo } from './index.ts'
import { BIN_DIR } from './runtime-containerd.ts'
import type { Step } from './types.ts'

const NODE_DIR = '/var/lib/kubelab/images'

export const runtimeImages: Step = {
  ...stepInfo('runtime:images'),
  async check(ctx, node) {
    const images = ctx.images ?? []
    if (images.length === 0) return true
    const listed = (await node.runner.$`${BIN_DIR}/ctr -n k8s.io images ls`).stdout
    return images.every((i) => listed.split('\n').some((l) => l.startsWith(`${i.ref} `) && l.includes(i.digest)))
  },
  async apply(ctx, node) {
    for (const image of ctx.images ?? []) {
      const remote = `${NODE_DIR}/${image.tar.split('/').pop()}`
      await node.runner.upload(image.tar, remote, image.sha256)
      await node.runner.$`${BIN_DIR}/ctr -n k8s.io images import --local ${remote} >/dev/null`
    }
  },
}
