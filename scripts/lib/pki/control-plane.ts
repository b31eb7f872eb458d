// The control-plane PKI as data, a pure function of (config, control-plane node, options): the
// three CAs, every leaf certificate with its signer, subject, usages and SANs, and the kubeconfigs
// with the client certificate each embeds and the server it points at. Nothing is generated here;
// store.ts turns this into files. Names match kubeadm's layout under /etc/kubernetes/pki.

import type { ClusterConfig, NodeSpec } from '../config/types.ts'
import { splitSans, type CaSpec, type LeafSpec } from './certs.ts'

export const CLUSTER_CA: CaSpec = { name: 'ca', commonName: 'kubernetes' }
export const ETCD_CA: CaSpec = { name: 'etcd/ca', commonName: 'etcd-ca' }
export const FRONT_PROXY_CA: CaSpec = { name: 'front-proxy-ca', commonName: 'front-proxy-ca' }
export const CAS: readonly CaSpec[] = [CLUSTER_CA, ETCD_CA, FRONT_PROXY_CA]

/** The group every node's NetworkPolicy enforcer identity is in (steps/network-policy.ts binds its ClusterRole to it). */
export const KUBE_ROUTER_GROUP = 'kubelab:kube-router'
/** The store file of a node's enforcer kubeconfig. */
export const kubeRouterKubeconfigFile = (node: string) => `kube-router/${node}.conf`

export const APISERVER_PORT = 6443
/** Where components on the control plane reach the apiserver. */
export const LOCAL_APISERVER = `https://127.0.0.1:${APISERVER_PORT}`

export interface PkiOptions {
  /** More apiserver SANs (DNS names or IPs), e.g. the lab gateway or a forwarded host address. */
  readonly extraSans?: readonly string[]
  /** The URL nodes (kubelet bootstrap, kube-proxy) use; default https://<control-plane address>:6443. */
  readonly apiServer?: string
  /** The URL in admin.conf; default `apiServer`. */
  readonly adminServer?: string
}

/** A kubeconfig with an embedded client certificate. */
export interface KubeconfigSpec {
  /** File in the store, e.g. `admin.conf`. */
  readonly file: string
  readonly server: string
  readonly user: LeafSpec
}

export interface ControlPlanePki {
  readonly cas: readonly CaSpec[]
  /** Leaf certificates written as `<name>.crt` / `<name>.key`. */
  readonly certs: readonly LeafSpec[]
  readonly kubeconfigs: readonly KubeconfigSpec[]
  /** Server URL of the kube-proxy and kubelet bootstrap kubeconfigs. */
  readonly nodeServer: string
}

export function apiServerUrl(cp: NodeSpec, options: PkiOptions = {}): string {
  return options.apiServer ?? `https://${cp.address}:${APISERVER_PORT}`
}

/** Every name the apiserver serving certificate must carry (service IP and in-cluster names first). */
export function apiServerSans(config: ClusterConfig, cp: NodeSpec, extra: readonly string[] = []): string[] {
  const domain = config.kubernetes.clusterDomain
  return [
    'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${domain}`,
    cp.name, 'localhost',
    '127.0.0.1', config.kubernetes.apiServiceIP, cp.address,
    ...extra,
  ]
}

function leaf(
  name: string, signer: CaSpec, commonName: string, organizations: readonly string[],
  usage: LeafSpec['usage'], sans: readonly string[] = [],
): LeafSpec {
  return { name, signer: signer.name, commonName, organizations, usage, ...splitSans(sans) }
}

/** The names the API server dials metrics-server by (its Service). */
export function metricsServerSans(config: ClusterConfig): string[] {
  return ['metrics-server.kube-system.svc', `metrics-server.kube-system.svc.${config.kubernetes.clusterDomain}`]
}

export function controlPlanePki(config: ClusterConfig, cp: NodeSpec, options: PkiOptions = {}): ControlPlanePki {
  const etcdSans = [cp.name, 'localhost', '127.0.0.1', cp.address]
  const nodeServer = apiServerUrl(cp, options)
  const client = (name: string, cn: string, o: readonly string[] = []) => leaf(name, CLUSTER_CA, cn, o, 'client')
  return {
    cas: CAS,
    certs: [
      leaf('apiserver', CLUSTER_CA, 'kube-apiserver', [], 'server', apiServerSans(config, cp, options.extraSans)),
      client('apiserver-kubelet-client', 'kube-apiserver-kubelet-client', ['system:masters']),
      leaf('apiserver-etcd-client', ETCD_CA, 'kube-apiserver-etcd-client', [], 'client'),
      leaf('front-proxy-client', FRONT_PROXY_CA, 'front-proxy-client', [], 'client'),
      leaf('etcd/server', ETCD_CA, cp.name, [], 'server+client', etcdSans),
      leaf('etcd/peer', ETCD_CA, cp.name, [], 'server+client', etcdSans),
      // addons.metricsServer: its serving certificate, which the aggregation layer verifies (APIService caBundle).
      ...(config.addons.metricsServer ? [leaf('metrics-server', CLUSTER_CA, 'metrics-server', [], 'server', metricsServerSans(config))] : []),
    ],
    kubeconfigs: [
      { file: 'admin.conf', server: options.adminServer ?? nodeServer, user: client('admin', 'kubernetes-admin', ['system:masters']) },
      { file: 'controller-manager.conf', server: LOCAL_APISERVER, user: client('controller-manager', 'system:kube-controller-manager') },
      { file: 'scheduler.conf', server: LOCAL_APISERVER, user: client('scheduler', 'system:kube-scheduler') },
      { file: 'kube-proxy.conf', server: nodeServer, user: client('kube-proxy', 'system:kube-proxy', ['system:node-proxier']) },
      // network.policy: one identity per node for its NetworkPolicy enforcer (read-only RBAC bound to the group).
      ...(config.network.policy ? config.nodes.map((n) => ({
        file: kubeRouterKubeconfigFile(n.name), server: nodeServer, user: client(`kube-router-${n.name}`, `${KUBE_ROUTER_GROUP}:${n.name}`, [KUBE_ROUTER_GROUP]),
      })) : []),
    ],
    nodeServer,
  }
}
