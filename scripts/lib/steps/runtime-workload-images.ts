// runtime:workload-images — the local images kubelab's own workloads run (testbox for the smoke
// suite, coredns) imported into containerd's k8s.io namespace. Only node:ready waits for it, so
// the import runs while kubelet joins (which waits on the control plane) instead of before it:
// no pod of kubelab's is placed on a node before kubelab has seen it Ready.

import type { Step } from '../converge/step.ts'
import { importImages, imagesPresent, workloadImages } from './runtime-images.ts'

export const runtimeWorkloadImages: Step = {
  id: 'runtime:workload-images',
  title: 'Importing local workload images (testbox, coredns)',
  on: 'all',
  after: ['runtime:images'],
  check: (ctx, node) => imagesPresent(workloadImages(ctx.images), node),
  apply: (ctx, node) => importImages(workloadImages(ctx.images), node),
}
