// addons.ingress (default on, as k3s/k3d ship Traefik): Traefik built from its Go module (lock
// component traefik) as the Ingress controller, its IngressClass the default, its LoadBalancer
// Service on 80/443 (an address from addons.loadBalancer, and 127.0.0.1:80 on the host).

import type { StepContext } from '../../converge/step.ts'
import { imageArtifact, imageRef } from '../../images/workloads.ts'
import { addonManifest, type AddonManifest } from '../manifest.ts'
import { manifestAddonStep } from '../step.ts'
import type { Addon } from '../types.ts'
import { INGRESS_NAME, INGRESS_NAMESPACE, ingressObjects } from './manifest.ts'
import { ingressRoutes } from './smoke.ts'

function manifest(ctx: StepContext): AddonManifest {
  const artifact = imageArtifact(ctx.artifacts, 'traefik')
  if (!artifact) throw new Error('addons.ingress is on but the resolved artifacts have no traefik binary')
  return addonManifest('ingress', ingressObjects(imageRef(artifact)))
}

export const ingress: Addon = {
  name: 'ingress',
  summary: 'Ingress controller Traefik, its IngressClass the default, on 127.0.0.1:80/443 through a LoadBalancer Service',
  upstream: 'github.com/traefik/traefik/v3',
  steps: [manifestAddonStep({
    name: 'ingress',
    title: 'Deploying the Ingress controller (Traefik)',
    manifest,
    deployments: [{ namespace: INGRESS_NAMESPACE, name: INGRESS_NAME, selector: 'app.kubernetes.io/name=traefik' }],
  })],
  checks: [ingressRoutes],
}
