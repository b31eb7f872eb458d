// Structured files built as data and serialised (never text-templated): containerd's config.toml,
// the CNI conflist, KubeletConfiguration, KubeProxyConfiguration, crictl.yaml. Each builder is a
// pure function of the resolved config, the node, and what was detected on the node.

import { stringify as toToml } from 'smol-toml'
import { stringify as toYaml } from 'yaml'
import type { ClusterConfig, NodeSpec } from '../config/types.ts'

/** What a node is like, as detected on it (steps/facts.ts); shapes the generated configs. */
export interface Substrate {
  /** cgroup v1 host: kubelet >= 1.35 needs failCgroupV1: false. */
  readonly cgroupV1: boolean
  /** A negative oom_score_adj is refused (no CAP_SYS_RESOURCE, e.g. machine containers): containerd must not ask runc for one. */
  readonly restrictOomScoreAdj: boolean
  /** nf_conntrack_max cannot be written (machine containers): kube-proxy must leave it alone. */
  readonly conntrackReadOnly: boolean
}

/** The sandbox image every node imports locally (no registry needed). */
export const SANDBOX_IMAGE = 'registry.k8s.io/pause:3.10.1'
export const CONTAINERD_SOCKET = 'unix:///run/containerd/containerd.sock'
export const CNI_BIN_DIR = '/opt/cni/bin'
export const CNI_CONF_DIR = '/etc/cni/net.d'

const yamlDoc = (data: unknown) => toYaml(data, { lineWidth: 0 })

export function containerdConfig(substrate: Substrate): string {
  return toToml({
    version: 3,
    plugins: {
      'io.containerd.cri.v1.images': {
        pinned_images: { sandbox: SANDBOX_IMAGE },
      },
      'io.containerd.cri.v1.runtime': {
        // Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj below the node's own.
        restrict_oom_score_adj: substrate.restrictOomScoreAdj,
        cni: { bin_dirs: [CNI_BIN_DIR], conf_dir: CNI_CONF_DIR },
        containerd: {
          default_runtime_name: 'runc',
          runtimes: {
            runc: { runtime_type: 'io.containerd.runc.v2', options: { SystemdCgroup: true } },
          },
        },
      },
    },
  }) + '\n'
}

export function cniConflist(node: NodeSpec): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'kubelab',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: node.podCIDR }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'loopback' },
    ],
  }, null, 2) + '\n'
}

export function kubeletConfig(config: ClusterConfig, node: NodeSpec, substrate: Substrate): string {
  const k = config.kubernetes
  return yamlDoc({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: '/etc/kubernetes/pki/ca.crt' },
    },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'systemd',
    containerRuntimeEndpoint: CONTAINERD_SOCKET,
    clusterDomain: k.clusterDomain,
    clusterDNS: [k.dnsServiceIP],
    podCIDR: node.podCIDR,
    resolvConf: '/etc/resolv.conf',
    rotateCertificates: true,
    serverTLSBootstrap: true,
    failSwapOn: false,
    memorySwap: { swapBehavior: 'NoSwap' },
    ...(substrate.cgroupV1 && k.minor >= 35 ? { failCgroupV1: false } : {}),
    // Nodes may see the whole host's memory and disk; keep thresholds small and explicit.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '5%', 'imagefs.available': '5%' },
    ...(taintsOf(node).length > 0 ? { registerWithTaints: taintsOf(node).map(parseTaint) } : {}),
  })
}

export function kubeProxyConfig(config: ClusterConfig, substrate: Substrate): string {
  return yamlDoc({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    // External control plane: kubelab holds no CA key there, so kube-proxy uses the node's own
    // (rotated) kubelet credentials; the control plane grants system:nodes system:node-proxier.
    clientConnection: { kubeconfig: config.controlPlane.mode === 'external' ? '/var/lib/kubelet/kubeconfig' : '/var/lib/kube-proxy/kubeconfig' },
    mode: config.kubernetes.proxyMode,
    clusterCIDR: config.kubernetes.clusterCIDR,
    // In a machine container nf_conntrack_max is not writable; leave it as the host has it.
    ...(substrate.conntrackReadOnly ? { conntrack: { maxPerCore: 0 } } : {}),
  })
}

export function crictlConfig(): string {
  return yamlDoc({ 'runtime-endpoint': CONTAINERD_SOCKET, 'image-endpoint': CONTAINERD_SOCKET, timeout: 10 })
}

/** The node's taints: the config's, and on the control plane kubeadm's NoSchedule taint. */
export function taintsOf(node: NodeSpec): string[] {
  const cp = 'node-role.kubernetes.io/control-plane:NoSchedule'
  return node.role === 'control-plane' && !node.taints.some((t) => t.startsWith('node-role.kubernetes.io/control-plane')) ? [...node.taints, cp] : [...node.taints]
}

/** `key[=value]:Effect` -> the Taint object kubelet expects. */
export function parseTaint(text: string): { key: string; value?: string; effect: string } {
  const colon = text.lastIndexOf(':')
  const [key, value] = text.slice(0, colon).split('=', 2) as [string, string | undefined]
  return { key, ...(value !== undefined ? { value } : {}), effect: text.slice(colon + 1) }
}
