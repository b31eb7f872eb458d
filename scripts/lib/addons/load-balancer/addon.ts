// addons.loadBalancer (default on where kubelab makes the lab network, as k3d ships servicelb):
// MetalLB in layer-2 mode, built from its Go module (lock components metallb-controller and
// metallb-speaker), with upstream's own manifest; kubelab's pool is addons.loadBalancer.addresses.
// Done when the controller is Available, a speaker is ready on every node and the pool is applied.
// The host side (127.0.0.1:PORT for each LoadBalancer port) is lib/services/.

import { existsSync } from 'node:fs'
import path from 'node:path'
import type { StepContext } from '../../converge/step.ts'
import { imageArtifact, imageRef } from '../../images/workloads.ts'
import { addonManifest, type AddonManifest } from '../manifest.ts'
import { manifestAddonStep } from '../step.ts'
import type { Addon } from '../types.ts'
import { LB_NAMESPACE, poolObjects, readUpstreamObjects, UPSTREAM_MANIFEST } from './manifest.ts'
import { loadBalancerReachable } from './smoke.ts'

function artifact(ctx: StepContext, component: string) {
  const a = imageArtifact(ctx.artifacts, component)
  if (!a) throw new Error(`addons.loadBalancer is on but the resolved artifacts have no ${component} binary`)
  return a
}

function manifest(ctx: StepContext): AddonManifest {
  const controller = artifact(ctx, 'metallb-controller')
  const file = path.join(path.dirname(controller.path), UPSTREAM_MANIFEST)
  if (!existsSync(file)) {
    throw new Error(`addons.loadBalancer: no ${UPSTREAM_MANIFEST} beside ${controller.path} (the metallb build leaves it there; a mirror or bundle does not carry it): build it with \`kubelab artifacts build\` and artifacts.source auto or build, or turn the addon off`)
  }
  return addonManifest('loadBalancer', readUpstreamObjects(file, { controller: imageRef(controller), speaker: imageRef(artifact(ctx, 'metallb-speaker')) }))
}

function pool(ctx: StepContext): AddonManifest {
  const addresses = ctx.config.addons.loadBalancer.addresses
  if (!addresses) throw new Error('addons.loadBalancer is on but has no addresses (set addons.loadBalancer.addresses)')
  return addonManifest('loadBalancer', poolObjects(addresses))
}

export const loadBalancer: Addon = {
  name: 'loadBalancer',
  summary: 'LoadBalancer Services: an address from the pool on the lab network (MetalLB, layer 2), each port on the host\'s 127.0.0.1',
  upstream: 'go.universe.tf/metallb',
  steps: [manifestAddonStep({
    name: 'loadBalancer',
    title: 'Deploying the LoadBalancer (MetalLB, layer 2)',
    manifest,
    deployments: [{ namespace: LB_NAMESPACE, name: 'controller', selector: 'app=metallb,component=controller' }],
    daemonSets: [{ namespace: LB_NAMESPACE, name: 'speaker', selector: 'app=metallb,component=speaker' }],
    resources: pool,
  })],
  checks: [loadBalancerReachable],
}
