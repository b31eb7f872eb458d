// runtime:workload-images — the local images kubelab's own workloads run (testbox for the smoke
// suite, coredns, the addons' images) imported into containerd's k8s.io namespace, once the node
// is Ready: on a 2-core host with one disk their import (the addons' images are hundreds of MB)
// slowed the control plane and every join when it ran beside them. Done on every node it
// establishes images:imported, which the addons wait for (with nodes:ready), so no pod of
// kubelab's is placed before its image is there.

import { SANDBOX_IMAGE } from '../templates/files.ts'
import { imageStep } from './runtime-images.ts'

export const runtimeWorkloadImages = imageStep({
  id: 'runtime:workload-images',
  title: 'Importing local workload images (testbox, CoreDNS, the addons\')',
  after: ['node:ready'],
  establishes: 'images:imported',
  // Images of pods pinned to the control plane (Traefik's) go there only.
  pick: (images, node) => images.filter((i) => i.ref !== SANDBOX_IMAGE && (!i.controlPlaneOnly || node.spec.role === 'control-plane')),
})
