// The implemented converge steps, in the order of steps/index.ts. `up` runs these after the
// machines exist; the catalogue's remaining steps land with the cluster issue.

import { artifactsUpload } from './artifacts-upload.ts'
import { STEPS } from './index.ts'
import { osPrep } from './os-prep.ts'
import { runtimeContainerd } from './runtime-containerd.ts'
import { runtimeImages } from './runtime-images.ts'
import { cpApiserver, cpControllerManager, cpEtcd, cpScheduler } from './control-plane.ts'
import { cpBootstrap } from './cp-bootstrap.ts'
import { joinNode, nodeReady } from './join.ts'
import { kubeProxyStep } from './kube-proxy.ts'
import { kubeletStep } from './kubelet.ts'
import { networkPodRoutes } from './network-pod-routes.ts'
import { pkiCerts } from './pki-certs.ts'
import type { Step } from './types.ts'

export const IMPLEMENTED: readonly Step[] = [
  osPrep, // kernel modules and sysctls, persistent
  artifactsUpload, // verified binaries, once per node
  runtimeContainerd, // containerd + runc + CNI config, running
  runtimeImages, // the sandbox image, imported locally (no registry)
  pkiCerts, // certificates, keys, kubeconfigs, encryption config on the control plane
  cpEtcd, // etcd, TLS everywhere
  cpApiserver, // kube-apiserver: Node,RBAC, bootstrap tokens, secrets encrypted at rest
  cpControllerManager, // signs kubelet CSRs
  cpScheduler,
  cpBootstrap, // RBAC for TLS bootstrapping, a fresh join token when nodes need one
  kubeletStep, // kubelet from its config file, bootstrap kubeconfig until joined
  joinNode, // client CSR approved, Node registered, serving certificate approved
  kubeProxyStep, // after the join: kube-proxy reads its Node at start
  networkPodRoutes, // routes to the other nodes' pod CIDRs, persistent
  nodeReady,
]

/** Steps after machine:ready up to and including `until` (all implemented ones when omitted). */
export function stepsUntil(until?: string): { steps: readonly Step[]; complete: boolean; missing?: string } {
  const ids = STEPS.map((s) => s.id).filter((id) => id !== 'machine:ready')
  const last = until ?? ids[ids.length - 1]!
  const end = ids.indexOf(last)
  const wanted = ids.slice(0, end + 1)
  const steps: Step[] = []
  for (const id of wanted) {
    const impl = IMPLEMENTED.find((s) => s.id === id)
    if (!impl) return { steps, complete: false, missing: id }
    steps.push(impl)
  }
  return { steps, complete: true }
}
