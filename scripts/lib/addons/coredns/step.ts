// addons:coredns — the cluster DNS (manifest.ts) applied from the control plane when
// `addons.coredns` is on: the local coredns image (runtime:workload-images imported it on every node), the
// kube-dns Service at kubernetes.dnsServiceIP (kubelet's clusterDNS). Done when the Deployment is
// Available and rolled out (no old pod answering with an old Corefile); off, it is removed.

import { manifestAddonStep } from '../step.ts'
import { upstream } from '../../egress/upstream.ts'
import { imageArtifact, imageRef } from '../../images/workloads.ts'
import type { StepContext } from '../../converge/step.ts'
import { corednsManifest, COREDNS_NAMESPACE, type CorednsManifest } from './manifest.ts'

function manifest(ctx: StepContext): CorednsManifest {
  const artifact = imageArtifact(ctx.artifacts, 'coredns')
  if (!artifact) throw new Error('addons.coredns is on but the resolved artifacts have no coredns binary')
  return corednsManifest({
    image: imageRef(artifact),
    dnsServiceIP: ctx.config.kubernetes.dnsServiceIP,
    clusterDomain: ctx.config.kubernetes.clusterDomain,
    replicas: Math.min(2, ctx.config.nodes.length),
    upstream: upstream(ctx.config),
  })
}

export const addonsCoredns = manifestAddonStep({
  name: 'coredns',
  title: 'Deploying CoreDNS (cluster DNS)',
  manifest,
  deployments: [{ namespace: COREDNS_NAMESPACE, name: 'coredns', selector: 'k8s-app=kube-dns' }],
})
