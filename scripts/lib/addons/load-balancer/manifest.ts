// MetalLB in layer-2 mode as data: upstream's config/manifests/metallb-native.yaml of the pinned
// version (left beside the binaries by its build: the CRDs, RBAC, webhook and workloads exactly as
// upstream ships them), with kubelab's images of the two binaries; then the pool kubelab owns, an
// IPAddressPool and the L2Advertisement that announces it, applied once the CRDs and the webhook
// answer. Every `type: LoadBalancer` Service gets an address from the pool; the speaker on one node
// answers ARP for it on the lab network, and kube-proxy on that node takes the traffic in.

import { readFileSync } from 'node:fs'
import { parseAllDocuments } from 'yaml'
import { parsedOnce } from '../../host/parsed-yaml.ts'
import type { Doc } from '../manifest.ts'

export const LB_NAMESPACE = 'metallb-system'
/** The IPAddressPool and L2Advertisement kubelab applies (a user may add pools of their own). */
export const POOL_NAME = 'kubelab'
/** The upstream file the metallb build leaves beside the controller and speaker binaries. */
export const UPSTREAM_MANIFEST = 'metallb-native.yaml'

export interface LoadBalancerImages {
  /** e.g. kubelab.local/metallb-controller:v0.15.2 (imported on every node). */
  readonly controller: string
  readonly speaker: string
}

interface Container { name: string; image?: string; imagePullPolicy?: string }
type Workload = Doc & { spec?: { template?: { spec?: { containers?: Container[] } } } }

/** Upstream's objects from its manifest text, each workload's image replaced by kubelab's. */
export function upstreamObjects(text: string, file: string, images: LoadBalancerImages): Doc[] {
  const docs = parsedOnce('yaml-documents', text, (t) => ({ value: parseAllDocuments(t).map((d, i) => {
    if (d.errors.length) throw new Error(`${file}: document ${i + 1}: ${d.errors[0]!.message}`)
    return d.toJS() as Workload | null
  }).filter((d): d is Workload => d !== null && typeof d === 'object'), keep: true }))
  const replaced = new Set<string>()
  for (const d of docs) {
    if (d.kind !== 'Deployment' && d.kind !== 'DaemonSet') continue
    for (const c of d.spec?.template?.spec?.containers ?? []) {
      const image = c.name === 'controller' ? images.controller : c.name === 'speaker' ? images.speaker : undefined
      if (!image) throw new Error(`${file}: ${d.kind} ${d.metadata.name} has a container "${c.name}" kubelab has no image for`)
      // Imported on every node by runtime:workload-images: nothing to pull.
      Object.assign(c, { image, imagePullPolicy: 'IfNotPresent' })
      replaced.add(c.name)
    }
  }
  for (const want of ['controller', 'speaker']) if (!replaced.has(want)) throw new Error(`${file}: no ${want} container (not MetalLB's native manifest?)`)
  return docs
}

export function readUpstreamObjects(file: string, images: LoadBalancerImages): Doc[] {
  return upstreamObjects(readFileSync(file, 'utf8'), file, images)
}

/** The pool and its layer-2 announcement: addresses `A-B` as config resolved them. */
export function poolObjects(addresses: string): Doc[] {
  return [
    { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: POOL_NAME, namespace: LB_NAMESPACE }, spec: { addresses: [addresses] } },
    { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: POOL_NAME, namespace: LB_NAMESPACE }, spec: { ipAddressPools: [POOL_NAME] } },
  ]
}
