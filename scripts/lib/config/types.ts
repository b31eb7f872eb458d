// The resolved config: defaults filled, derived values computed, secrets read from the
// environment, everything readonly. What the rest of kubelab works with (never ConfigInput).

import type { ArtifactSource, ProviderType, ProxyMode, QemuAccel, Role } from './schema.ts'

export interface NodeSpec {
  readonly name: string
  readonly role: Role
  readonly cpus: number
  readonly memoryMiB: number
  /** ssh: the host to reach; local providers: the node's address in the lab network. */
  readonly address: string
  readonly podCIDR: string
  readonly labels: Readonly<Record<string, string>>
  readonly taints: readonly string[]
  /** SSH host key fingerprint pinned by the config (`SHA256:...`). */
  readonly hostKey?: string
  /** 127.0.0.1:hostPort on the host to this node's port (kind's extraPortMappings); machines kubelab makes only. */
  readonly portMappings: readonly PortMapping[]
}

export interface PortMapping {
  readonly hostPort: number
  /** The port on the node: a NodePort Service's, or one a hostNetwork pod listens on. */
  readonly port: number
}

export interface ProviderConfig {
  readonly type: ProviderType
  /** Lab network for machines kubelab makes; its first address is the bridge (gateway). */
  readonly network: string
  readonly gateway: string
  readonly debianMirror?: string
  readonly qemu: { readonly accel: QemuAccel; readonly image?: { readonly url: string; readonly sha256: string } }
  readonly multipass: { readonly image: string }
}

export interface KubernetesConfig {
  readonly version: string
  readonly minor: number
  readonly clusterCIDR: string
  readonly nodeCIDRMaskSize: number
  readonly serviceCIDR: string
  /** First address of serviceCIDR: the `kubernetes` Service, a SAN of the apiserver cert. */
  readonly apiServiceIP: string
  /** Tenth address of serviceCIDR: cluster DNS, as kubeadm does. */
  readonly dnsServiceIP: string
  readonly clusterDomain: string
  readonly proxyMode: ProxyMode
}

export type ControlPlaneConfig =
  | { readonly mode: 'managed' }
  | { readonly mode: 'external'; readonly endpoint: string; readonly tokenEnv: string; readonly caCertHash: string }

export interface SshConfig {
  readonly user: string
  readonly port: number
  readonly keyFile?: string
  readonly keyEnv?: string
  readonly agent: boolean
  readonly bastion?: { readonly host: string; readonly port: number; readonly user: string; readonly hostKey?: string }
  /** OpenSSH known_hosts file pinning host keys (absolute). */
  readonly knownHosts?: string
}

export interface ArtifactsConfig {
  readonly source: ArtifactSource
  readonly lock?: string
  readonly mirror?: string
  readonly bundle?: string
}

/** One registry host's settings (containerd hosts.toml); credentials are in Secrets. */
export interface RegistryConfig {
  /** As image names spell it: `docker.io`, `registry.example.com:5000`. */
  readonly host: string
  readonly mirrors: readonly string[]
  /** Absolute path of a CA file on this host (its content goes to the nodes). */
  readonly ca?: string
  readonly insecure: boolean
  /** The environment variables the credentials came from (names only). */
  readonly credentials?: { readonly usernameEnv: string; readonly passwordEnv: string }
}

export interface AddonsConfig {
  readonly coredns: boolean
  readonly storage: boolean
  readonly metricsServer: boolean
  readonly registry: RegistryAddonConfig
  readonly loadBalancer: LoadBalancerAddonConfig
  readonly ingress: boolean
}

/** Whether the addon under `addons.<name>` is on (a boolean switch or an `enabled` field). */
export function addonEnabled(config: { readonly addons: AddonsConfig }, name: keyof AddonsConfig): boolean {
  const v = config.addons[name] as boolean | { readonly enabled: boolean } | undefined
  return typeof v === 'boolean' ? v : v?.enabled ?? false
}

/** addons.registry: kind's local-registry recipe. */
export interface RegistryAddonConfig {
  readonly enabled: boolean
  /** 127.0.0.1:PORT on the host and the `localhost:PORT` images name. */
  readonly port: number
}

/** addons.loadBalancer: addresses for `type: LoadBalancer` Services (MetalLB, layer 2). */
export interface LoadBalancerAddonConfig {
  readonly enabled: boolean
  /** The pool, `A-B`: by default the upper eighth of provider.network (where kubelab makes the network). */
  readonly addresses?: string
}

/**
 * egress: the way out of the lab. Off: no uplink, CoreDNS answers only the cluster domain, no
 * proxy (KUBELAB_EGRESS=off, as every test here runs).
 */
export interface EgressConfig {
  readonly enabled: boolean
  /** Providers with a lab namespace, egress on: the veth pair out of it and its link network. */
  readonly uplink?: {
    /** The namespace the far end goes to; undefined: the host's own. */
    readonly netns?: string
    readonly cidr: string
    /** The far end's address (the lab's default route). */
    readonly peerAddress: string
    /** The lab end's address: what lab traffic is source-NATed to. */
    readonly labAddress: string
  }
  /** Configured upstream resolvers (egress.dns, KUBELAB_DNS); empty: the host's (egress/upstream.ts). */
  readonly dns: readonly string[]
  /** For containerd and kubelet: from egress.proxy, else the host's environment; NO_PROXY completed. */
  readonly proxy?: { readonly http?: string; readonly https?: string; readonly noProxy: readonly string[] }
}

/** Values read from the environment because the YAML named them. Never printed. */
export interface Secrets {
  readonly bootstrapToken?: string
  readonly sshKey?: string
  /** Per registry host: credentials read from the variables registries.HOST.credentials names. */
  readonly registryAuth?: Readonly<Record<string, { readonly username: string; readonly password: string }>>
}

export interface ClusterConfig {
  /** The config file this came from (absolute path). */
  readonly file: string
  readonly name: string
  readonly provider: ProviderConfig
  readonly kubernetes: KubernetesConfig
  readonly controlPlane: ControlPlaneConfig
  readonly nodes: readonly NodeSpec[]
  readonly artifacts: ArtifactsConfig
  readonly ssh: SshConfig
  /** Each addon's switch (addons/index.ts lists the addons; addonEnabled reads a switch by name). */
  readonly addons: AddonsConfig
  /** registries: in config order. */
  readonly registries: readonly RegistryConfig[]
  readonly egress: EgressConfig
  /** network.policy: NetworkPolicy enforced on every node (steps/network-policy.ts). */
  readonly network: { readonly policy: boolean }
  /** Smoke suite: a registry image instead of the local testbox. */
  readonly smoke?: { readonly image?: string }
  readonly secrets: Secrets
}
