// Defaults and derived values: turns a validated ConfigInput into the readonly ClusterConfig.
// The derivations (per-node pod CIDRs, lab addresses) are also used by validate.ts to check
// capacity, so both agree on what a config means.

import { createHash } from 'node:crypto'
import path from 'node:path'
import * as cidr from './cidr.ts'
import { NO_PROXY_PATTERN, type ConfigInput } from './schema.ts'
import type { ClusterConfig, EgressConfig, LoadBalancerAddonConfig, NodeSpec } from './types.ts'
import { providerTraits } from '../providers/traits.ts'
import { DEFAULT_KUBERNETES_VERSION, parseVersion } from '../versions.ts'

export const DEFAULTS = {
  name: 'kubelab',
  providerType: 'auto',
  network: '10.77.0.0/24',
  multipassImage: '24.04',
  clusterCIDR: '10.244.0.0/16',
  nodeCIDRMaskSize: 24,
  serviceCIDR: '10.96.0.0/16',
  clusterDomain: 'cluster.local',
  proxyMode: 'iptables',
  cpus: 2,
  memory: '2GiB',
  sshUser: 'root',
  sshPort: 22,
  artifactsSource: 'auto',
  registryPort: 5001,
  /** Host number of the first node in the lab network (.11, .12, ...); .1 is the bridge. */
  firstNodeHost: 11,
} as const

/** "2GiB" -> 2048, "1536MiB" -> 1536 (M and G are read as MiB and GiB). */
export function parseMemoryMiB(text: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Mi|Gi|MiB|GiB|M|G)$/.exec(text)
  if (!m) return undefined
  const n = Number(m[1])
  return Math.round(m[2]!.startsWith('G') ? n * 1024 : n)
}

/**
 * Pod CIDR per node: an explicit `podCIDR` is kept; the others take, in node order, the next
 * subnet of the cluster CIDR that overlaps no explicit one. `undefined` where the cluster CIDR is
 * exhausted (or the explicit value is not a CIDR; validation reports that separately).
 */
export function derivePodCidrs(
  cluster: cidr.Cidr,
  maskSize: number,
  explicit: readonly (string | undefined)[],
): (cidr.Cidr | undefined)[] {
  const fixed = explicit.map((e) => (e === undefined ? undefined : cidr.parseCidr(e)))
  const taken = fixed.flatMap((f) => (f?.ok ? [f.cidr] : []))
  let next = 0
  return fixed.map((f, i) => {
    if (explicit[i] !== undefined) return f?.ok ? f.cidr : undefined
    for (;;) {
      const candidate = cidr.subnet(cluster, maskSize, next++)
      if (!candidate) return undefined
      if (!taken.some((t) => cidr.overlaps(t, candidate))) return candidate
    }
  })
}

/**
 * Lab address per node for providers that make machines: explicit addresses are kept; the others
 * take .11, .12, ... of the lab network, skipping explicit ones. `undefined` when the network is full.
 */
export function deriveAddresses(network: cidr.Cidr, explicit: readonly (string | undefined)[]): (string | undefined)[] {
  const taken = new Set(explicit.flatMap((e) => (e === undefined ? [] : [cidr.parseIPv4(e)])))
  let host = DEFAULTS.firstNodeHost
  return explicit.map((e) => {
    if (e !== undefined) return e
    for (;;) {
      const ip = cidr.nthAddress(network, host++)
      if (ip === undefined || ip >= cidr.last(network)) return undefined
      if (!taken.has(ip)) return cidr.formatIPv4(ip)
    }
  })
}

/** On by default where kubelab makes the lab network (and so knows addresses nothing else uses). */
function resolveLoadBalancer(input: { enabled?: boolean; addresses?: string } | undefined, labNetwork: boolean, network: cidr.Cidr): LoadBalancerAddonConfig {
  const parsed = input?.addresses === undefined ? undefined : cidr.parseRange(input.addresses)
  const addresses = parsed?.ok ? cidr.formatRange(parsed.range) : labNetwork ? cidr.formatRange(cidr.upperEighth(network)) : undefined
  return { enabled: input?.enabled ?? labNetwork, ...(addresses ? { addresses } : {}) }
}

/**
 * The default uplink link network of a cluster: a /30 in 100.64.0.0/10 (shared address space, seen
 * on no LAN) picked by the cluster name, so two clusters on one host get different ones.
 */
export function defaultUplinkCidr(cluster: string): string {
  const n = createHash('sha256').update(cluster).digest().readUInt32BE(0) >>> 12 // 20 bits: one of 2^20 /30s
  return cidr.formatCidr({ base: cidr.parseIPv4('100.64.0.0')! + n * 4, prefix: 30 })
}

const NO_PROXY_ENTRY = new RegExp(NO_PROXY_PATTERN)

/** The host's proxy variables (upper case first, as curl and Go read them). */
export function hostProxy(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  return env[name.toUpperCase()] || env[name.toLowerCase()] || undefined
}

function resolveEgress(input: ConfigInput, env: Readonly<Record<string, string | undefined>>, c: {
  name: string; labNetwork: boolean; network: string; clusterCIDR: string; serviceCIDR: string; clusterDomain: string; nodes: readonly NodeSpec[]
}): EgressConfig {
  const e = input.egress ?? {}
  const enabled = e.enabled ?? true
  if (!enabled) return { enabled, dns: [] }
  const link = mustCidr(e.uplinkCIDR ?? defaultUplinkCidr(c.name))
  const uplink = c.labNetwork
    ? { ...(e.uplinkNetns ? { netns: e.uplinkNetns } : {}), cidr: cidr.formatCidr(link), peerAddress: cidr.formatIPv4(link.base + 1), labAddress: cidr.formatIPv4(link.base + 2) }
    : undefined
  const http = e.proxy ? e.proxy.http : hostProxy(env, 'http_proxy')
  const https = e.proxy ? e.proxy.https : hostProxy(env, 'https_proxy')
  // The host's NO_PROXY joins only when the host's proxies are the ones used.
  const fromHost = e.proxy === undefined ? (hostProxy(env, 'no_proxy') ?? '').split(',').map((s) => s.trim()).filter((s) => NO_PROXY_ENTRY.test(s)) : []
  // What must never go through the proxy: the cluster itself (Go's NO_PROXY takes CIDRs and .suffixes).
  const own = ['localhost', '127.0.0.1', c.clusterCIDR, c.serviceCIDR, ...(c.labNetwork ? [c.network] : []), ...c.nodes.flatMap((n) => [n.name, ...(n.address ? [n.address] : [])]), '.svc', `.${c.clusterDomain}`]
  const noProxy = [...new Set([...(e.proxy?.noProxy ?? []), ...fromHost, ...own])]
  return {
    enabled,
    ...(uplink ? { uplink } : {}),
    dns: [...(e.dns ?? [])],
    ...(http || https ? { proxy: { ...(http ? { http } : {}), ...(https ? { https } : {}), noProxy } } : {}),
  }
}

function mustCidr(text: string): cidr.Cidr {
  const p = cidr.parseCidr(text)
  if (!p.ok) throw new Error(`internal: resolve() called on an invalid CIDR ${text}`)
  return p.cidr
}

/** Fills defaults and derived values. Call only on input that validate() accepted. */
export function resolve(input: ConfigInput, env: Readonly<Record<string, string | undefined>>, file: string): ClusterConfig {
  const p = input.provider ?? {}
  const k = input.kubernetes ?? {}
  const providerType = p.type ?? DEFAULTS.providerType
  const network = mustCidr(p.network ?? DEFAULTS.network)
  const clusterCIDR = mustCidr(k.clusterCIDR ?? DEFAULTS.clusterCIDR)
  const serviceCIDR = mustCidr(k.serviceCIDR ?? DEFAULTS.serviceCIDR)
  const maskSize = k.nodeCIDRMaskSize ?? DEFAULTS.nodeCIDRMaskSize
  const version = k.version ?? DEFAULT_KUBERNETES_VERSION
  const podCidrs = derivePodCidrs(clusterCIDR, maskSize, input.nodes.map((n) => n.podCIDR))
  // Providers with their own addresses: the configured ones (ssh) or none yet (multipass assigns them).
  const addresses = providerTraits(providerType).assignsAddresses
    ? deriveAddresses(network, input.nodes.map((n) => n.address))
    : input.nodes.map((n) => n.address ?? '')

  const nodes: NodeSpec[] = input.nodes.map((n, i) => ({
    name: n.name,
    role: n.role,
    cpus: n.cpus ?? DEFAULTS.cpus,
    memoryMiB: parseMemoryMiB(n.memory ?? DEFAULTS.memory)!,
    address: addresses[i]!,
    podCIDR: cidr.formatCidr(podCidrs[i]!),
    labels: { ...(n.labels ?? {}) },
    taints: [...(n.taints ?? [])],
    ...(n.hostKey ? { hostKey: n.hostKey } : {}),
    portMappings: (n.portMappings ?? []).map((m) => ({ hostPort: m.hostPort, port: m.port })),
  }))

  const cp = input.controlPlane ?? {}
  const ssh = input.ssh ?? {}
  const sshUser = ssh.user ?? DEFAULTS.sshUser
  const tokenEnv = cp.mode === 'external' ? cp.tokenEnv : undefined
  const registries = Object.entries(input.registries ?? {}).map(([host, r]) => ({
    host,
    mirrors: [...(r.mirrors ?? [])],
    ...(r.ca ? { ca: path.resolve(path.dirname(file), r.ca) } : {}),
    insecure: r.insecure ?? false,
    ...(r.credentials ? { credentials: { usernameEnv: r.credentials.usernameEnv, passwordEnv: r.credentials.passwordEnv } } : {}),
  }))
  const registryAuth = Object.fromEntries(registries.flatMap((r) => r.credentials
    ? [[r.host, { username: env[r.credentials.usernameEnv] ?? '', password: env[r.credentials.passwordEnv] ?? '' }]]
    : []))
  const loadBalancer = resolveLoadBalancer(input.addons?.loadBalancer, providerTraits(providerType).labNetwork && cp.mode !== 'external', network)
  return {
    file,
    name: input.name ?? DEFAULTS.name,
    provider: {
      type: providerType,
      network: cidr.formatCidr(network),
      gateway: cidr.formatIPv4(network.base + 1),
      ...(p.debianMirror ? { debianMirror: p.debianMirror } : {}),
      qemu: { accel: p.qemu?.accel ?? 'auto', ...(p.qemu?.image ? { image: p.qemu.image } : {}) },
      multipass: { image: p.multipass?.image ?? DEFAULTS.multipassImage },
    },
    kubernetes: {
      version,
      minor: parseVersion(version)!.minor,
      clusterCIDR: cidr.formatCidr(clusterCIDR),
      nodeCIDRMaskSize: maskSize,
      serviceCIDR: cidr.formatCidr(serviceCIDR),
      apiServiceIP: cidr.formatIPv4(serviceCIDR.base + 1),
      dnsServiceIP: cidr.formatIPv4(serviceCIDR.base + 10),
      clusterDomain: k.clusterDomain ?? DEFAULTS.clusterDomain,
      proxyMode: k.proxyMode ?? DEFAULTS.proxyMode,
    },
    controlPlane: cp.mode === 'external'
      ? { mode: 'external', endpoint: cp.endpoint!, tokenEnv: cp.tokenEnv!, caCertHash: cp.caCertHash! }
      : { mode: 'managed' },
    nodes,
    artifacts: {
      source: input.artifacts?.source ?? DEFAULTS.artifactsSource,
      ...(input.artifacts?.lock ? { lock: input.artifacts.lock } : {}),
      ...(input.artifacts?.mirror ? { mirror: input.artifacts.mirror } : {}),
      ...(input.artifacts?.bundle ? { bundle: input.artifacts.bundle } : {}),
    },
    ssh: {
      user: sshUser,
      port: ssh.port ?? DEFAULTS.sshPort,
      ...(ssh.keyFile ? { keyFile: ssh.keyFile } : {}),
      ...(ssh.keyEnv ? { keyEnv: ssh.keyEnv } : {}),
      agent: ssh.agent ?? false,
      ...(ssh.bastion
        ? { bastion: { host: ssh.bastion.host, port: ssh.bastion.port ?? 22, user: ssh.bastion.user ?? sshUser, ...(ssh.bastion.hostKey ? { hostKey: ssh.bastion.hostKey } : {}) } }
        : {}),
      ...(ssh.knownHosts ? { knownHosts: path.resolve(path.dirname(file), ssh.knownHosts) } : {}),
    },
    addons: {
      coredns: input.addons?.coredns ?? true,
      storage: input.addons?.storage ?? true,
      metricsServer: input.addons?.metricsServer ?? true,
      registry: { enabled: input.addons?.registry?.enabled ?? false, port: input.addons?.registry?.port ?? DEFAULTS.registryPort },
      loadBalancer,
      ingress: input.addons?.ingress ?? loadBalancer.enabled,
    },
    registries,
    egress: resolveEgress(input, env, {
      name: input.name ?? DEFAULTS.name,
      labNetwork: providerTraits(providerType).labNetwork,
      network: cidr.formatCidr(network),
      clusterCIDR: cidr.formatCidr(clusterCIDR),
      serviceCIDR: cidr.formatCidr(serviceCIDR),
      clusterDomain: k.clusterDomain ?? DEFAULTS.clusterDomain,
      nodes,
    }),
    network: { policy: input.network?.policy ?? true },
    ...(input.smoke?.image ? { smoke: { image: input.smoke.image } } : {}),
    secrets: {
      ...(tokenEnv && env[tokenEnv] ? { bootstrapToken: env[tokenEnv] } : {}),
      ...(ssh.keyEnv && env[ssh.keyEnv] ? { sshKey: env[ssh.keyEnv] } : {}),
      ...(Object.keys(registryAuth).length > 0 ? { registryAuth } : {}),
    },
  }
}
