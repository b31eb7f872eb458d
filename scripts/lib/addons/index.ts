// THE addons, one line each: a folder in addons/ and a line here. Their steps run after the nodes
// are Ready (steps/index.ts takes them from here), their smoke checks before the disruptive ones
// (smoke/checks/index.ts), `kubelab addons` lists them in this order.

import { coredns } from './coredns/addon.ts'
import { ingress } from './ingress/addon.ts'
import { loadBalancer } from './load-balancer/addon.ts'
import { metricsServer } from './metrics-server/addon.ts'
import { registry } from './registry/addon.ts'
import { storage } from './storage/addon.ts'
import type { Addon } from './types.ts'

export const ADDONS: readonly Addon[] = [
  registry,       // addons.registry       off: local registry on the control plane (kind's recipe)
  coredns,        // addons.coredns        on: cluster DNS
  storage,        // addons.storage        on: default StorageClass local-path (local-path-provisioner)
  metricsServer,  // addons.metricsServer  on: metrics-server, kubectl top
  loadBalancer,   // addons.loadBalancer   on (nspawn, qemu): LoadBalancer Services (MetalLB), on the host's 127.0.0.1
  ingress,        // addons.ingress        on with the load balancer: Traefik, the default IngressClass, 127.0.0.1:80
]
