// The schema of cluster.config.yaml, as written by a user (every field optional where a default
// exists). One source for three things: the TypeScript input type (`ConfigInput`), the JSON Schema
// that `kubelab config schema` prints for editors, and the structural validation in validate.ts.
// Defaults live in defaults.ts; cross-field rules live in validate.ts.

import { Type as T, type Static, type TSchema, type SchemaOptions } from '@sinclair/typebox'

/** A string enum as a plain JSON Schema `enum` (one clear error instead of an anyOf cascade). */
function Enum<V extends string>(values: readonly V[], options: SchemaOptions = {}) {
  return T.Unsafe<V>({ type: 'string', enum: [...values], ...options })
}

/** `x-hint` says, in the error message, what a value matching `pattern` looks like. */
function Pattern(pattern: string, hint: string, options: SchemaOptions = {}) {
  return T.String({ pattern, 'x-hint': hint, ...options })
}

const strict = <P extends Record<string, TSchema>>(props: P, options: SchemaOptions = {}) =>
  T.Object(props, { additionalProperties: false, ...options })

export const PROVIDERS = ['auto', 'nspawn', 'qemu', 'multipass', 'ssh'] as const
export const ROLES = ['control-plane', 'worker'] as const
export const CONTROL_PLANE_MODES = ['managed', 'external'] as const
export const PROXY_MODES = ['iptables', 'nftables', 'ipvs'] as const
export const ARTIFACT_SOURCES = ['auto', 'download', 'mirror', 'build', 'bundle'] as const
export const QEMU_ACCELS = ['auto', 'kvm', 'hvf', 'tcg'] as const
export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const

const CIDR_PATTERN = '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$'
const Cidr = (description: string) =>
  Pattern(CIDR_PATTERN, 'an IPv4 CIDR such as 10.244.0.0/16', { description })
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
const ENV_NAME = '^[A-Za-z_][A-Za-z0-9_]*$'
const EnvName = (description: string) =>
  Pattern(ENV_NAME, 'the NAME of an environment variable (set in .env), not its value', { description })
const Memory = Pattern('^[0-9]+(\\.[0-9]+)?(Mi|Gi|MiB|GiB|M|G)$', 'a size such as 2GiB or 1536MiB', {
  description: 'Memory of the machine (qemu, multipass), e.g. 2GiB',
})

const QemuSettings = strict({
  accel: T.Optional(Enum(QEMU_ACCELS, { description: 'auto: KVM (or HVF) when usable, else TCG' })),
  image: T.Optional(strict({
    url: T.String({ description: 'An official cloud image (qcow2), configured with cloud-init' }),
    sha256: Pattern('^[0-9a-f]{64}$', '64 lowercase hex digits'),
  }, { description: 'Use a downloaded cloud image instead of the locally built Debian image' })),
})

const ProviderSettings = strict({
  type: T.Optional(Enum(PROVIDERS, {
    description: 'auto: qemu when /dev/kvm is usable, else nspawn machine containers',
  })),
  network: T.Optional(Cidr('Lab network for machines kubelab makes (inside its own network namespace)')),
  debianMirror: T.Optional(T.String({
    description: 'Debian mirror URL for building the node image; default: the host\'s apt sources',
  })),
  qemu: T.Optional(QemuSettings),
  multipass: T.Optional(strict({
    image: T.Optional(T.String({ description: 'Multipass image, e.g. 24.04' })),
  })),
})

const Kubernetes = strict({
  version: T.Optional(Pattern('^v\\d+\\.\\d+\\.\\d+$', 'a version such as v1.35.4', {
    description: 'Kubernetes version of every component',
  })),
  clusterCIDR: T.Optional(Cidr('Pod network of the whole cluster; each node gets a slice')),
  nodeCIDRMaskSize: T.Optional(T.Integer({ minimum: 8, maximum: 30, description: 'Prefix length of each node\'s pod CIDR' })),
  serviceCIDR: T.Optional(Cidr('Service (ClusterIP) range; the first address is the kubernetes Service')),
  clusterDomain: T.Optional(Pattern('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', 'a DNS domain such as cluster.local')),
  proxyMode: T.Optional(Enum(PROXY_MODES, { description: 'kube-proxy mode' })),
})

const ControlPlane = strict({
  mode: T.Optional(Enum(CONTROL_PLANE_MODES, {
    description: 'managed: kubelab runs the control plane on a node of its own; external: join an existing one',
  })),
  endpoint: T.Optional(Pattern('^https://[^\\s/]+(:\\d+)?/?$', 'an https URL such as https://10.0.0.10:6443', {
    description: 'external only: the API server URL',
  })),
  tokenEnv: T.Optional(EnvName('external only: environment variable holding a bootstrap token (abcdef.0123456789abcdef)')),
  caCertHash: T.Optional(Pattern('^sha256:[0-9a-f]{64}$', 'sha256: and 64 hex digits, as kubeadm prints it', {
    description: 'external only: hash of the cluster CA public key',
  })),
})

/** An OpenSSH SHA256 fingerprint, as `ssh-keygen -lf` prints it. */
const HostKey = (description: string) => Pattern('^SHA256:[A-Za-z0-9+/]{43}$', 'SHA256: and 43 base64 characters, as ssh-keygen -lf prints it', { description })

const Node = strict({
  name: Pattern(DNS_LABEL, 'a DNS label: lowercase letters, digits and -', { description: 'Machine and Node name' }),
  role: Enum(ROLES),
  cpus: T.Optional(T.Integer({ minimum: 1, maximum: 64 })),
  memory: T.Optional(Memory),
  address: T.Optional(T.String({
    minLength: 1,
    description: 'ssh: the host to reach; nspawn/qemu: a fixed address in provider.network',
  })),
  podCIDR: T.Optional(Cidr('This node\'s pod CIDR; derived from kubernetes.clusterCIDR when absent')),
  labels: T.Optional(T.Record(T.String(), T.String())),
  taints: T.Optional(T.Array(Pattern(
    `^[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?:(${TAINT_EFFECTS.join('|')})$`,
    'key[=value]:Effect with Effect one of NoSchedule, PreferNoSchedule, NoExecute',
  ))),
  hostKey: T.Optional(HostKey('This node\'s SSH host key fingerprint; any other key is refused')),
  portMappings: T.Optional(T.Array(strict({
    hostPort: T.Integer({ minimum: 1, maximum: 65535, description: 'The port on the host\'s 127.0.0.1' }),
    port: T.Integer({ minimum: 1, maximum: 65535, description: 'The port on this node: a NodePort Service\'s (30000-32767), or one a hostNetwork pod listens on' }),
  }), { description: 'Like kind\'s extraPortMappings: 127.0.0.1:hostPort on the host to this node\'s port, kept across `up` runs (nspawn, qemu)' })),
})

const Artifacts = strict({
  source: T.Optional(Enum(ARTIFACT_SOURCES, {
    description: 'auto: download when reachable, else build from Go modules, else an error',
  })),
  lock: T.Optional(T.String({ description: 'Versions lock file (default: the one shipped with kubelab)' })),
  mirror: T.Optional(T.String({ description: 'A directory or http(s) URL with the download layout' })),
  bundle: T.Optional(T.String({ description: 'A bundle file written by `kubelab bundle`' })),
})

const Bastion = strict({
  host: T.String({ minLength: 1 }),
  port: T.Optional(T.Integer({ minimum: 1, maximum: 65535 })),
  user: T.Optional(T.String({ minLength: 1 })),
  hostKey: T.Optional(HostKey('The bastion\'s SSH host key fingerprint; any other key is refused')),
})

const Ssh = strict({
  user: T.Optional(T.String({ minLength: 1, description: 'Login user; not root means sudo -n' })),
  port: T.Optional(T.Integer({ minimum: 1, maximum: 65535 })),
  keyFile: T.Optional(T.String({ minLength: 1, description: 'Private key file' })),
  keyEnv: T.Optional(EnvName('Environment variable holding a private key (PEM/OpenSSH text)')),
  agent: T.Optional(T.Boolean({ description: 'Use ssh-agent (SSH_AUTH_SOCK)' })),
  bastion: T.Optional(Bastion),
  knownHosts: T.Optional(T.String({ minLength: 1, description: 'An OpenSSH known_hosts file pinning the host keys of nodes and bastion (relative to this file)' })),
})

const Addons = strict({
  coredns: T.Optional(T.Boolean({ description: 'Cluster DNS (CoreDNS); default on' })),
  storage: T.Optional(T.Boolean({ description: 'The default StorageClass `local-path`: node-local volumes provisioned on demand (local-path-provisioner); default on' })),
  metricsServer: T.Optional(T.Boolean({ description: 'metrics-server: `kubectl top` and CPU/memory HPAs, kubelets\' serving certificates verified; default on' })),
  registry: T.Optional(strict({
    enabled: T.Optional(T.Boolean({ description: 'A local registry (distribution) on the control-plane node; default off' })),
    port: T.Optional(T.Integer({ minimum: 1024, maximum: 65535, description: 'Port on the host\'s 127.0.0.1 and the name pods use: localhost:PORT/NAME:TAG (default 5001)' })),
  }, { description: 'kind\'s local-registry recipe: push to localhost:PORT from the host, pull localhost:PORT/NAME:TAG in pods' })),
  ingress: T.Optional(T.Boolean({ description: 'Traefik as the Ingress controller, its IngressClass the default, on the host\'s 127.0.0.1:80/443; default on where addons.loadBalancer is (its Service is a LoadBalancer)' })),
  loadBalancer: T.Optional(strict({
    enabled: T.Optional(T.Boolean({ description: 'MetalLB (layer 2) gives every `type: LoadBalancer` Service an address from the pool; default on where kubelab makes the lab network (nspawn, qemu)' })),
    addresses: T.Optional(T.String({ minLength: 1, description: 'The pool: A-B or a CIDR; default the upper eighth of provider.network (10.77.0.224-10.77.0.254 for 10.77.0.0/24); required for ssh and multipass' })),
  }, { description: 'LoadBalancer Services: an address in the lab network, reachable from every node, the lab network and the host\'s 127.0.0.1:PORT' })),
})

/** A registry host as images name it: `docker.io`, `registry.example.com:5000`, `localhost:5001`. */
export const REGISTRY_HOST_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\\d{1,5})?$'

const Registry = strict({
  mirrors: T.Optional(T.Array(T.String({ description: 'http(s) URL of a mirror, tried in order before the host itself' }))),
  ca: T.Optional(T.String({ minLength: 1, description: 'CA certificate file (PEM) the host\'s TLS certificate is checked against; relative to the config file' })),
  insecure: T.Optional(T.Boolean({ description: 'Plain http to the host (no TLS), as for a lab registry' })),
  credentials: T.Optional(strict({
    usernameEnv: EnvName('Environment variable holding the user name'),
    passwordEnv: EnvName('Environment variable holding the password or token'),
  }, { description: 'Credentials from the environment (never in YAML)' })),
})

const Ipv4 = Pattern('^\\d{1,3}(\\.\\d{1,3}){3}$', 'an IPv4 address such as 198.51.100.53')
export const NO_PROXY_PATTERN = '^[A-Za-z0-9.*/:_-]+$'
export const PROXY_URL_PATTERN = '^https?://[A-Za-z0-9.:@%_~-]+/?$'
const ProxyUrl = (description: string) => Pattern(PROXY_URL_PATTERN, 'an http(s) URL such as http://proxy.example:3128', { description })

const Egress = strict({
  enabled: T.Optional(T.Boolean({ description: 'Nodes and pods reach addresses outside the cluster (uplink + NAT, CoreDNS forwarding, proxy); KUBELAB_EGRESS=off|on. Default on' })),
  uplinkNetns: T.Optional(Pattern('^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$', 'a network namespace name as `ip netns list` shows it', {
    description: 'Connect the uplink to this existing network namespace instead of the host\'s; KUBELAB_UPLINK_NETNS',
  })),
  uplinkCIDR: T.Optional(Cidr('The uplink\'s own link network (/30 or larger; first address: the far end, second: the lab end); default: a /30 in 100.64.0.0/10 derived from the cluster name')),
  dns: T.Optional(T.Array(Ipv4, { minItems: 1, description: 'Upstream resolvers CoreDNS and the machines use; KUBELAB_DNS=IP[,IP]. Default: the host\'s non-loopback resolvers' })),
  proxy: T.Optional(strict({
    http: T.Optional(ProxyUrl('HTTP_PROXY for containerd and kubelet; default: the host\'s HTTP_PROXY')),
    https: T.Optional(ProxyUrl('HTTPS_PROXY for containerd and kubelet; default: the host\'s HTTPS_PROXY')),
    noProxy: T.Optional(T.Array(Pattern(NO_PROXY_PATTERN, 'a host, .domain suffix, IP or CIDR'), { description: 'Extra NO_PROXY entries; the cluster\'s CIDRs, the lab network, node names and the cluster domain are always added' })),
  })),
})

const Network = strict({
  policy: T.Optional(T.Boolean({ description: 'NetworkPolicy enforced on every node (kube-router\'s firewall controller: iptables + ipset); default on' })),
})

const Smoke = strict({
  image: T.Optional(T.String({
    minLength: 1,
    description: 'Image for the smoke workloads instead of the locally built testbox (busybox applets + /bin/probe), e.g. kubelab\'s testbox pushed to your registry',
  })),
})

export const ConfigSchema = strict({
  $schema: T.Optional(T.String()),
  name: T.Optional(Pattern(DNS_LABEL, 'a DNS label: lowercase letters, digits and -', { description: 'Cluster name' })),
  provider: T.Optional(ProviderSettings),
  kubernetes: T.Optional(Kubernetes),
  controlPlane: T.Optional(ControlPlane),
  nodes: T.Array(Node, { minItems: 1 }),
  artifacts: T.Optional(Artifacts),
  ssh: T.Optional(Ssh),
  addons: T.Optional(Addons),
  registries: T.Optional(T.Record(T.String({ pattern: REGISTRY_HOST_PATTERN }), Registry, {
    additionalProperties: false,
    description: 'Per registry host (as image names spell it): mirrors, CA, plain http, credentials; containerd hosts.toml',
  })),
  egress: T.Optional(Egress),
  network: T.Optional(Network),
  smoke: T.Optional(Smoke),
}, {
  title: 'kubelab cluster.config.yaml',
})

export type ConfigInput = Static<typeof ConfigSchema>
export type NodeInput = Static<typeof Node>
export type ProviderType = (typeof PROVIDERS)[number]
export type Role = (typeof ROLES)[number]
export type ProxyMode = (typeof PROXY_MODES)[number]
export type ArtifactSource = (typeof ARTIFACT_SOURCES)[number]
export type ControlPlaneMode = (typeof CONTROL_PLANE_MODES)[number]
export type QemuAccel = (typeof QEMU_ACCELS)[number]

/** The JSON Schema document printed by `kubelab config schema`. */
export function jsonSchema(): Record<string, unknown> {
  // TypeBox adds symbol keys only; JSON round trip leaves plain JSON Schema (draft 2020-12 subset).
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(ConfigSchema)) }
}
