// Structured files built as data and serialised (never text-templated): containerd's config.toml,
// the CNI conflist, KubeletConfiguration, KubeProxyConfiguration, crictl.yaml. Each builder is a
// pure function of the resolved config, the node, and what was detected on the node.

import { stringify as toToml } from 'smol-toml'
import { stringify as toYaml } from 'yaml'
import type { ClusterConfig, NodeSpec, RegistryConfig, Secrets } from '../config/types.ts'

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
/** containerd's registry host directory (config_path): one `<host>/hosts.toml` per registry, read per pull. */
export const CERTS_D = '/etc/containerd/certs.d'
/** The local registry (addons.registry) listens on this port on the control-plane node. */
export const LOCAL_REGISTRY_NODE_PORT = 5000

const yamlDoc = (data: unknown) => toYaml(data, { lineWidth: 0 })

/**
 * containerd's config.toml. Registries are configured through `config_path` (hosts.toml files,
 * read per pull, no restart); only credentials live here, in the CRI `registry.configs.HOST.auth`
 * table that containerd 2.x still reads beside config_path (deprecated upstream with no hosts.toml
 * equivalent; a credentials change restarts containerd, which keeps running containers).
 */
export function containerdConfig(substrate: Substrate, registryAuth: Secrets['registryAuth'] = {}): string {
  const auth = Object.entries(registryAuth ?? {})
  return toToml({
    version: 3,
    plugins: {
      'io.containerd.cri.v1.images': {
        pinned_images: { sandbox: SANDBOX_IMAGE },
        registry: {
          config_path: CERTS_D,
          ...(auth.length > 0
            // Keyed by the endpoint's host: with config_path, containerd 2.2 asks Registry.Configs[host]
            // for the host each request goes to (docker.io's is registry-1.docker.io); mirrors get none.
            ? { configs: Object.fromEntries(auth.map(([host, a]) => [new URL(registryServer(host, false)).host, { auth: { username: a.username, password: a.password } }])) }
            : {}),
        },
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

/** A registry host as hosts.toml describes it: where pulls go, in order. */
export interface RegistryHostsSpec {
  readonly host: string
  /** Tried in order before `server`. */
  readonly mirrors: readonly string[]
  /** The host itself; absent for a name that only maps elsewhere (the local registry). */
  readonly server?: string
  /** Whether `<host>/ca.crt` is installed beside hosts.toml (for the server). */
  readonly ca: boolean
  /** Mirrors whose own host has a CA in the config: that host's installed ca.crt, by mirror URL. */
  readonly mirrorCas?: Readonly<Record<string, string>>
}

/** The upstream endpoint of a registry host: docker.io's API lives on registry-1.docker.io. */
export function registryServer(host: string, insecure: boolean): string {
  return `${insecure ? 'http' : 'https'}://${host === 'docker.io' ? 'registry-1.docker.io' : host}`
}

/** Every hosts.toml kubelab writes: the config's registries, then the local registry's name. */
export function registryHostsSpecs(registries: readonly RegistryConfig[], local?: { port: number; address: string }): RegistryHostsSpec[] {
  // A mirror is itself a registry host: a CA configured for that host applies to it as a mirror too.
  const withCa = new Set(registries.filter((r) => r.ca !== undefined).map((r) => r.host))
  const specs: RegistryHostsSpec[] = registries.map((r) => {
    const mirrorCas = Object.fromEntries(r.mirrors.flatMap((m) => {
      const host = new URL(m).host
      return withCa.has(host) ? [[m, registryCaPath(host)]] : []
    }))
    return {
      host: r.host,
      mirrors: r.mirrors,
      server: registryServer(r.host, r.insecure),
      ca: r.ca !== undefined,
      ...(Object.keys(mirrorCas).length > 0 ? { mirrorCas } : {}),
    }
  })
  if (local) specs.push({ host: `localhost:${local.port}`, mirrors: [`http://${local.address}:${LOCAL_REGISTRY_NODE_PORT}`], ca: false })
  return specs
}

/** `/etc/containerd/certs.d/<host>/hosts.toml` (containerd's hosts directory, `:` kept as containerd looks it up). */
export const hostsTomlPath = (host: string) => `${CERTS_D}/${host}/hosts.toml`
export const registryCaPath = (host: string) => `${CERTS_D}/${host}/ca.crt`

/** The first line of every hosts.toml kubelab writes: how the step recognises its own directories. */
export const HOSTS_TOML_MARK = '# written by kubelab (runtime:registries)'

export function hostsToml(spec: RegistryHostsSpec): string {
  const pull = ['pull', 'resolve']
  return `${HOSTS_TOML_MARK}\n` + toToml({
    ...(spec.server ? { server: spec.server } : {}),
    ...(spec.server && spec.ca ? { ca: registryCaPath(spec.host) } : {}),
    ...(spec.mirrors.length > 0 ? { host: Object.fromEntries(spec.mirrors.map((m) => [m, { capabilities: pull, ...(spec.mirrorCas?.[m] ? { ca: spec.mirrorCas[m] } : {}) }])) } : {}),
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
        // Off: pods reach pods on other nodes with their own addresses (NetworkPolicy needs them);
        // traffic leaving the cluster CIDR is masqueraded by network:pod-routes instead.
        ipMasq: false,
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
