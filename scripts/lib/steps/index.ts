// THE converge pipeline: every step `up` runs after the machines exist, one line each, in the
// order progress lines and `kubelab plan` show. Each step's file owns its id, title, nodes and what
// it waits for; the runner (converge/runner.ts) starts each node's work as soon as that is there,
// so this order is the order of dependencies, not of execution. Adding a step: one file in this
// folder, one line here; adding an addon: one folder in addons/, one line in addons/index.ts.

import type { Step } from '../converge/step.ts'
import { ADDONS } from '../addons/index.ts'
import { artifactsUpload } from './artifacts-upload.ts'
import { cpApiserver, cpControllerManager, cpEtcd, cpScheduler } from './control-plane.ts'
import { cpBootstrap } from './cp-bootstrap.ts'
import { joinDiscovery } from './join-discovery.ts'
import { joinNode, joinServingCert, nodeReady } from './join.ts'
import { kubeProxyStep } from './kube-proxy.ts'
import { kubeletStep } from './kubelet.ts'
import { networkPodRoutes } from './network-pod-routes.ts'
import { networkPolicy } from './network-policy.ts'
import { osPrep } from './os-prep.ts'
import { osResolver } from './os-resolver.ts'
import { pkiCerts } from './pki-certs.ts'
import { runtimeContainerd } from './runtime-containerd.ts'
import { runtimeImages } from './runtime-images.ts'
import { runtimeRegistries } from './runtime-registries.ts'
import { runtimeWorkloadImages } from './runtime-workload-images.ts'

export const STEPS: readonly Step[] = [
  // Machine and OS, on every node at once
  osPrep,              // os:prep              kernel modules and sysctls, persistent and live
  osResolver,          // os:resolver          lab machines: upstream resolvers in /etc/resolv.conf (egress)
  artifactsUpload,     // artifacts:upload     the node's verified binaries (skipped when present)
  // Container runtime
  runtimeContainerd,   // runtime:containerd   containerd + runc + CNI plugins, config as data
  runtimeRegistries,   // runtime:registries   certs.d/<host>/hosts.toml: mirrors, CA, http, localhost:PORT (no restart)
  runtimeImages,       // runtime:images       the sandbox image (pause) into k8s.io, before kubelet
  // Control plane (managed): one service after another on the control-plane node
  pkiCerts,            // pki:certs            the PKI kubelab issued, installed
  cpEtcd,              // cp:etcd
  cpApiserver,         // cp:apiserver         establishes api:serving
  cpControllerManager, // cp:controller-manager establishes csr:signing
  cpScheduler,         // cp:scheduler
  cpBootstrap,         // cp:bootstrap         RBAC + the join token's Secret: establishes join:token
  // Node agents and the join (external mode: discovery first)
  joinDiscovery,       // join:discovery       external only: CA pinned by hash, token tried
  kubeletStep,         // kubelet:config       kubelet started with the bootstrap kubeconfig
  joinNode,            // join:node            the client CSR signed, the Node registered and labelled
  joinServingCert,     // join:serving-cert    the kubelet's serving CSR checked and approved (managed)
  kubeProxyStep,       // kube-proxy:config    after the join (it reads its Node object)
  networkPodRoutes,    // network:pod-routes   routes to the other nodes' pod CIDRs
  networkPolicy,       // network:policy       network.policy: kube-router's firewall (NetworkPolicy) on every node, read-only RBAC
  nodeReady,           // node:ready
  runtimeWorkloadImages, // runtime:workload-images testbox and the addons' images, once the node is Ready (their IO no longer slows the join); establishes images:imported
  // Addons (addons/index.ts, one folder each): addons:registry, addons:coredns, addons:storage, addons:metricsServer
  ...ADDONS.flatMap((a) => a.steps),
]
