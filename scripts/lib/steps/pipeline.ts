// The converge steps `up` runs after the machines exist: each catalogue entry of steps/index.ts
// bound to its implementation, in the catalogue's order.

import { addonsCoredns } from './addons-coredns.ts'
import { artifactsUpload } from './artifacts-upload.ts'
import { STEPS } from './index.ts'
import { osPrep } from './os-prep.ts'
import { runtimeContainerd } from './runtime-containerd.ts'
import { runtimeImages } from './runtime-images.ts'
import { cpApiserver, cpControllerManager, cpEtcd, cpScheduler } from './control-plane.ts'
import { cpBootstrap } from './cp-bootstrap.ts'
import { joinNode, nodeReady } from './join.ts'
import { joinDiscovery } from './join-discovery.ts'
import { kubeProxyStep } from './kube-proxy.ts'
import { kubeletStep } from './kubelet.ts'
import { networkPodRoutes } from './network-pod-routes.ts'
import { pkiCerts } from './pki-certs.ts'
import { UsageError } from '../errors.ts'
import type { Step } from './types.ts'

/** Every step's implementation; the order is steps/index.ts's (one source for it). */
const IMPLEMENTATIONS: readonly Step[] = [
  osPrep, artifactsUpload, runtimeContainerd, runtimeImages, pkiCerts,
  cpEtcd, cpApiserver, cpControllerManager, cpScheduler, cpBootstrap,
  joinDiscovery, kubeletStep, joinNode, kubeProxyStep, networkPodRoutes, nodeReady,
  addonsCoredns,
]

/** The converge steps in catalogue order (machine:ready is the provider's own wait). */
export const PIPELINE: readonly Step[] = STEPS.filter((s) => s.id !== 'machine:ready').map((info) => {
  const step = IMPLEMENTATIONS.find((x) => x.id === info.id)
  if (!step) throw new Error(`internal: step ${info.id} has no implementation`)
  return step
})

/** The steps up to and including `until` (all when omitted). */
export function stepsUntil(until?: string): readonly Step[] {
  if (until === undefined) return PIPELINE
  if (until === 'machine:ready') return [] // the machines and nothing else
  const end = PIPELINE.findIndex((s) => s.id === until)
  if (end < 0) throw new UsageError(`--until: no step "${until}"; steps: ${PIPELINE.map((s) => s.id).join(', ')}`)
  return PIPELINE.slice(0, end + 1)
}
