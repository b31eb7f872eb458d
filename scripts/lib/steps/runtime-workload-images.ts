// runtime:workload-images — the local images kubelab's own workloads run (testbox for the smoke
// suite, coredns, the addons' images) imported into containerd's k8s.io namespace. Only node:ready
// waits for it, so the import runs while kubelet joins (which waits on the control plane) instead
// of before it: no pod of kubelab's is placed on a node before kubelab has seen it Ready.

import { SANDBOX_IMAGE } from '../templates/files.ts'
import { imageStep } from './runtime-images.ts'

export const runtimeWorkloadImages = imageStep({
  id: 'runtime:workload-images',
  title: 'Importing local workload images (testbox, CoreDNS, the addons\')',
  after: ['runtime:images'],
  pick: (images) => images.filter((i) => i.ref !== SANDBOX_IMAGE),
})
