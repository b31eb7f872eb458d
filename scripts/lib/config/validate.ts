// Validation of the config as written: structure against the JSON Schema (ajv, all errors), then
// cross-field rules that catch real failures early. Pure: returns every problem found, each with
// the path it belongs to; load.ts turns paths into file:line:col.

import { Ajv, type ErrorObject } from 'ajv'
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import * as cidr from './cidr.ts'
import { fieldProblems, httpUrl } from './fields.ts'
import { derivePodCidrs, deriveAddresses, DEFAULTS, hostProxy, parseMemoryMiB } from './resolve.ts'
import { jsonSchema, PROVIDERS, PROXY_URL_PATTERN, type ProviderType } from './schema.ts'
import { providerTraits } from '../providers/traits.ts'
import { knownHostsProblem } from '../remote/known-hosts.ts'
import { isSupported, parseVersion, supportedRange, DEFAULT_KUBERNETES_VERSION } from '../versions.ts'

export type PathSegment = string | number

/** Where in the YAML a problem points: the value at the path, the key itself, or its parent. */
export type Anchor = 'value' | 'key' | 'parent'

export interface Problem {
  path: PathSegment[]
  message: string
  anchor: Anchor
}

export function formatPath(path: readonly PathSegment[]): string {
  return path.reduce<string>((acc, seg) =>
    typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg, '')
}

export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (an empty value)'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  if (typeof v === 'string') return JSON.stringify(v)
  return `${typeof v} ${String(v)}`
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]!
}

/** The closest known name, when it is close enough to be a plausible typo. */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestScore = Infinity
  for (const k of known) {
    const d = levenshtein(word, k)
    if (d < bestScore) [best, bestScore] = [k, d]
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}

// ---------------------------------------------------------------------------------------------
// Structure

const ajv = new Ajv({ allErrors: true, strict: true, verbose: true })
ajv.addKeyword('x-hint')
const validateSchema = ajv.compile(jsonSchema())

function splitPointer(pointer: string): PathSegment[] {
  if (!pointer) return []
  return pointer.slice(1).split('/').map((s) => {
    const key = s.replace(/~1/g, '/').replace(/~0/g, '~')
    return /^\d+$/.test(key) ? Number(key) : key
  })
}

function structuralProblem(e: ErrorObject): Problem {
  const path = splitPointer(e.instancePath)
  const got = `; got ${describeValue(e.data)}`
  const schema = (e.parentSchema ?? {}) as Record<string, unknown>
  switch (e.keyword) {
    case 'required':
      return { path: [...path, (e.params as { missingProperty: string }).missingProperty], message: 'required', anchor: 'parent' }
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty
      const known = Object.keys((schema.properties ?? {}) as object)
      if (known.length === 0 && schema.patternProperties) {
        return { path: [...path, key], message: 'must be a registry host as image names spell it (such as docker.io or registry.example.com:5000)', anchor: 'key' }
      }
      const guess = didYouMean(key, known)
      return {
        path: [...path, key],
        message: `unknown key${guess ? ` (did you mean "${guess}"?)` : `; known keys: ${known.join(', ')}`}`,
        anchor: 'key',
      }
    }
    case 'enum':
      return { path, message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}${got}`, anchor: 'value' }
    case 'type': {
      const t = (e.params as { type: string }).type
      const word = t === 'object' ? 'a mapping' : t === 'array' ? 'a list' : `${t === 'integer' ? 'an' : 'a'} ${t}`
      return { path, message: `must be ${word}${got}`, anchor: 'value' }
    }
    case 'pattern':
      return { path, message: `must be ${String(schema['x-hint'] ?? `a string matching ${e.params.pattern}`)}${got}`, anchor: 'value' }
    case 'minimum':
    case 'maximum':
      return { path, message: `must be ${e.keyword === 'minimum' ? '>=' : '<='} ${e.params.limit}${got}`, anchor: 'value' }
    case 'minItems':
      return { path, message: `must have at least ${e.params.limit} item${e.params.limit === 1 ? '' : 's'}`, anchor: 'value' }
    case 'minLength':
      return { path, message: 'must not be empty', anchor: 'value' }
    default:
      return { path, message: `${e.message ?? 'is invalid'}${got}`, anchor: 'value' }
  }
}

// ---------------------------------------------------------------------------------------------
// Cross-field rules. They run on data that may have structural errors, so every read is guarded
// and a rule whose inputs are broken stays silent (the structural error already says why).

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {})
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const int = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : undefined)

const TOKEN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/

/** A mirror URL containerd can use: http(s), a host, a port in range, nothing secret or after the path. */
export const mirrorUrlProblem = httpUrl('https://mirror.example.com or http://10.0.0.5:5000')

const PROXY_URL = new RegExp(PROXY_URL_PATTERN)

/**
 * `baseDir`: where relative file names in the config (registries.HOST.ca) are resolved; without
 * it no file is checked.
 */
export function crossCheck(data: unknown, env: Readonly<Record<string, string | undefined>>, baseDir?: string): Problem[] {
  const problems: Problem[] = []
  const add = (path: PathSegment[], message: string, anchor: Anchor = 'value') => problems.push({ path, message, anchor })

  const root = obj(data)
  const provider = obj(root.provider)
  const kube = obj(root.kubernetes)
  const cp = obj(root.controlPlane)
  const ssh = obj(root.ssh)
  const artifacts = obj(root.artifacts)
  const nodes = Array.isArray(root.nodes) ? root.nodes.map(obj) : []
  const providerType = str(provider.type) ?? DEFAULTS.providerType
  // An unknown type is the schema's to report: no provider rules for it.
  const traits = (PROVIDERS as readonly string[]).includes(providerType) ? providerTraits(providerType as ProviderType) : undefined

  // A CIDR field: parse it (host bits, prefix) and report at its path; default when absent.
  const cidrAt = (path: PathSegment[], value: unknown, fallback?: string): cidr.Cidr | undefined => {
    const text = str(value) ?? (value === undefined ? fallback : undefined)
    if (text === undefined) return undefined
    const p = cidr.parseCidr(text)
    if (!p.ok) {
      if (/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(text)) add(path, `${p.reason}; got "${text}"`)
      return undefined // non-CIDR shapes are reported by the schema
    }
    return p.cidr
  }

  // Version in the supported range.
  const version = str(kube.version)
  if (version !== undefined) {
    const v = parseVersion(version)
    if (v && !isSupported(v)) {
      add(['kubernetes', 'version'], `must be a supported version (${supportedRange()}; default ${DEFAULT_KUBERNETES_VERSION}); got "${version}"`)
    }
  }

  // Cluster, service and lab networks.
  const clusterCidr = cidrAt(['kubernetes', 'clusterCIDR'], kube.clusterCIDR, DEFAULTS.clusterCIDR)
  const serviceCidr = cidrAt(['kubernetes', 'serviceCIDR'], kube.serviceCIDR, DEFAULTS.serviceCIDR)
  const labNet = traits?.assignsAddresses ? cidrAt(['provider', 'network'], provider.network, DEFAULTS.network) : undefined
  const maskSize = int(kube.nodeCIDRMaskSize) ?? (kube.nodeCIDRMaskSize === undefined ? DEFAULTS.nodeCIDRMaskSize : undefined)

  if (clusterCidr && serviceCidr && cidr.overlaps(clusterCidr, serviceCidr)) {
    add(['kubernetes', 'serviceCIDR'], `overlaps kubernetes.clusterCIDR ${cidr.formatCidr(clusterCidr)}; Service IPs and pod IPs must be disjoint`)
  }
  if (serviceCidr && serviceCidr.prefix > 28) {
    add(['kubernetes', 'serviceCIDR'], `is too small (/${serviceCidr.prefix}); use /28 or larger`)
  }
  if (labNet) {
    for (const [name, other, path] of [
      ['kubernetes.clusterCIDR', clusterCidr, ['kubernetes', 'clusterCIDR']],
      ['kubernetes.serviceCIDR', serviceCidr, ['kubernetes', 'serviceCIDR']],
    ] as const) {
      if (other && cidr.overlaps(labNet, other)) {
        add(provider.network === undefined ? [...path] : ['provider', 'network'],
          `${provider.network === undefined ? `overlaps the default lab network ${DEFAULTS.network}` : `overlaps ${name} ${cidr.formatCidr(other)}`}; machine addresses must be outside pod and Service ranges`)
      }
    }
    if (labNet.prefix > 28) add(['provider', 'network'], `is too small (/${labNet.prefix}); use /28 or larger`)
  }
  if (clusterCidr && maskSize !== undefined && maskSize < clusterCidr.prefix) {
    add(['kubernetes', 'nodeCIDRMaskSize'], `must be >= the prefix of kubernetes.clusterCIDR (/${clusterCidr.prefix}); got ${maskSize}`)
  }

  // Per-node pod CIDRs: inside the cluster CIDR, pairwise disjoint, disjoint from Services, enough room.
  const explicitPod = nodes.map((n) => str(n.podCIDR))
  const podCidrs = nodes.map((n, i) => cidrAt(['nodes', i, 'podCIDR'], n.podCIDR))
  podCidrs.forEach((c, i) => {
    if (!c) return
    if (clusterCidr && !cidr.contains(clusterCidr, c)) {
      add(['nodes', i, 'podCIDR'], `must lie inside kubernetes.clusterCIDR ${cidr.formatCidr(clusterCidr)}; got "${cidr.formatCidr(c)}"`)
    }
    if (serviceCidr && cidr.overlaps(serviceCidr, c)) {
      add(['nodes', i, 'podCIDR'], `overlaps kubernetes.serviceCIDR ${cidr.formatCidr(serviceCidr)}`)
    }
    for (let j = 0; j < i; j++) {
      const o = podCidrs[j]
      if (o && cidr.overlaps(o, c)) add(['nodes', i, 'podCIDR'], `overlaps nodes[${j}].podCIDR ${cidr.formatCidr(o)}; pod CIDRs must be disjoint`)
    }
  })
  if (clusterCidr && maskSize !== undefined && maskSize >= clusterCidr.prefix) {
    const derived = derivePodCidrs(clusterCidr, maskSize, explicitPod)
    const short = derived.findIndex((d, i) => d === undefined && explicitPod[i] === undefined)
    if (short >= 0) {
      const room = 2 ** (maskSize - clusterCidr.prefix)
      add(['kubernetes', 'clusterCIDR'], `has room for ${room} node CIDR${room === 1 ? '' : 's'} of /${maskSize}, not enough for ${nodes.length} nodes; widen it or raise kubernetes.nodeCIDRMaskSize`)
    }
  }

  // Nodes: unique names and addresses; what each provider requires.
  const seenNames = new Map<string, number>()
  const seenAddresses = new Map<string, number>()
  nodes.forEach((n, i) => {
    const name = str(n.name)
    if (name !== undefined) {
      const j = seenNames.get(name)
      if (j !== undefined) add(['nodes', i, 'name'], `duplicates nodes[${j}].name; node names must be unique; got "${name}"`)
      else seenNames.set(name, i)
    }
    const address = str(n.address)
    if (address !== undefined) {
      const j = seenAddresses.get(address)
      if (j !== undefined) add(['nodes', i, 'address'], `duplicates nodes[${j}].address; node addresses must be unique; got "${address}"`)
      else seenAddresses.set(address, i)
    }
    // Existing hosts: only the config knows where they are. Made machines with their own addresses: the config must not say.
    if (traits && !traits.makesMachines && n.address === undefined) add(['nodes', i, 'address'], `required when provider.type is "${providerType}"`, 'parent')
    if (traits && traits.makesMachines && !traits.assignsAddresses && address !== undefined) {
      add(['nodes', i, 'address'], `not allowed with provider.type "${providerType}" (${providerType} assigns addresses)`, 'key')
    }
    if (labNet && address !== undefined) {
      const ip = cidr.parseIPv4(address)
      if (ip === undefined) add(['nodes', i, 'address'], `must be an IPv4 address in provider.network ${cidr.formatCidr(labNet)}; got "${address}"`)
      else if (!cidr.containsIp(labNet, ip)) add(['nodes', i, 'address'], `must lie inside provider.network ${cidr.formatCidr(labNet)}; got "${address}"`)
      else if (ip === labNet.base || ip === labNet.base + 1 || ip === cidr.last(labNet)) {
        add(['nodes', i, 'address'], `is reserved (network, bridge or broadcast address of ${cidr.formatCidr(labNet)}); got "${address}"`)
      }
    }
  })
  if (labNet && deriveAddresses(labNet, nodes.map((n) => str(n.address))).some((a) => a === undefined)) {
    add(['provider', 'network'], `has no room for ${nodes.length} machines from .${DEFAULTS.firstNodeHost} on; use a larger network`)
  }

  // Control plane.
  const mode = str(cp.mode) ?? 'managed'
  const roles = nodes.map((n) => str(n.role))
  const cpIdx = roles.flatMap((r, i) => (r === 'control-plane' ? [i] : []))
  // Count rules only make sense when every role is valid (a bad role is reported on its own).
  const rolesValid = nodes.length > 0 && roles.every((r) => r === 'control-plane' || r === 'worker')
  if (rolesValid && !roles.includes('worker')) add(['nodes'], 'needs at least one node with role "worker"')
  if (mode === 'managed') {
    for (const key of ['endpoint', 'tokenEnv', 'caCertHash']) {
      if (cp[key] !== undefined) add(['controlPlane', key], 'only allowed with controlPlane.mode "external"', 'key')
    }
    if (rolesValid && cpIdx.length === 0) {
      add(['nodes'], 'needs one node with role "control-plane" when controlPlane.mode is "managed"')
    }
    if (cpIdx.length > 1) {
      add(['nodes', cpIdx[1]!, 'role'], `kubelab manages exactly one control-plane node (HA control planes are not supported yet); got ${cpIdx.length}`)
    }
  } else if (mode === 'external') {
    for (const key of ['endpoint', 'tokenEnv', 'caCertHash']) {
      if (cp[key] === undefined) add(['controlPlane', key], 'required when controlPlane.mode is "external"', 'parent')
    }
    for (const i of cpIdx) {
      add(['nodes', i, 'role'], 'must be "worker" when controlPlane.mode is "external" (kubelab never touches an external control plane)')
    }
    const tokenEnv = str(cp.tokenEnv)
    if (tokenEnv !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(tokenEnv)) {
      const token = env[tokenEnv]
      if (token === undefined || token === '') {
        add(['controlPlane', 'tokenEnv'], `names environment variable ${tokenEnv}, which is not set (put it in .env or the environment)`)
      } else if (!TOKEN.test(token)) {
        add(['controlPlane', 'tokenEnv'], `environment variable ${tokenEnv} does not hold a bootstrap token of the form [a-z0-9]{6}.[a-z0-9]{16}`)
      }
    }
  }

  // Secrets named by the config must exist.
  const keyEnv = str(ssh.keyEnv)
  if (keyEnv !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(keyEnv) && !env[keyEnv]) {
    add(['ssh', 'keyEnv'], `names environment variable ${keyEnv}, which is not set (put it in .env or the environment)`)
  }

  // A known_hosts file must be there and read as one (a typo must not silently pin nothing).
  const knownHosts = str(ssh.knownHosts)
  if (knownHosts !== undefined && knownHosts !== '' && baseDir !== undefined) {
    const file = path.resolve(baseDir, knownHosts)
    const problem = knownHostsProblem(file)
    if (problem) add(['ssh', 'knownHosts'], problem)
  }

  // Registries: mirror URLs, CA files, credentials from the environment.
  const addonRegistry = obj(obj(root.addons).registry)
  const addonPort = int(addonRegistry.port) ?? DEFAULTS.registryPort
  for (const [host, value] of Object.entries(obj(root.registries))) {
    const r = obj(value)
    if (Array.isArray(r.mirrors)) {
      r.mirrors.forEach((m, i) => {
        const text = str(m)
        const why = text === undefined ? undefined : mirrorUrlProblem(text)
        if (why) add(['registries', host, 'mirrors', i], why)
      })
    }
    const ca = str(r.ca)
    if (ca !== undefined && ca !== '' && baseDir !== undefined) {
      const file = path.resolve(baseDir, ca)
      if (!existsSync(file)) add(['registries', host, 'ca'], `file not found: ${file}`)
      else if (!statSync(file).isFile()) add(['registries', host, 'ca'], `must be a file (a PEM CA certificate); got a directory: ${file}`)
    }
    const creds = obj(r.credentials)
    for (const key of ['usernameEnv', 'passwordEnv'] as const) {
      const name = str(creds[key])
      if (name !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !env[name]) {
        add(['registries', host, 'credentials', key], `names environment variable ${name}, which is not set (put it in .env or the environment)`)
      }
    }
    if (addonRegistry.enabled === true && host === `localhost:${addonPort}`) {
      add(['registries', host], `is the local registry of addons.registry (port ${addonPort}); kubelab configures it, leave it out or change addons.registry.port`, 'key')
    }
  }

  if (addonRegistry.enabled === true && mode === 'external') {
    add(['addons', 'registry', 'enabled'], 'needs controlPlane.mode "managed" (the registry runs on the control-plane node kubelab manages)')
  }

  // Port mappings: where kubelab forwards ports (machines it makes in its lab namespace), each host port once.
  const hostPorts = new Map<number, string>()
  if (addonRegistry.enabled === true) hostPorts.set(addonPort, 'addons.registry.port')
  nodes.forEach((n, i) => {
    const maps = Array.isArray(n.portMappings) ? n.portMappings : []
    if (maps.length && traits && !traits.labNetwork) add(['nodes', i, 'portMappings'], `not available with provider.type "${providerType}": its hosts are on your network, reach their ports directly`, 'key')
    maps.forEach((m, j) => {
      const port = int(obj(m).hostPort)
      if (port === undefined) return
      const other = hostPorts.get(port)
      if (other) add(['nodes', i, 'portMappings', j, 'hostPort'], `127.0.0.1:${port} is already ${other}; each host port can be mapped once`)
      else hostPorts.set(port, `nodes[${i}].portMappings[${j}]`)
    })
  })

  // LoadBalancer pool: a valid range, in the lab network where kubelab makes it, clear of the nodes.
  const lb = obj(obj(root.addons).loadBalancer)
  const lbAddresses = str(lb.addresses)
  const lbOn = lb.enabled === true || (lb.enabled === undefined && traits?.labNetwork === true && mode !== 'external')
  const pool = lbAddresses === undefined ? undefined : cidr.parseRange(lbAddresses)
  if (pool && !pool.ok) add(['addons', 'loadBalancer', 'addresses'], `${pool.reason}; got "${lbAddresses}"`)
  if (lb.enabled === true && mode === 'external') {
    add(['addons', 'loadBalancer', 'enabled'], 'needs controlPlane.mode "managed" (kubelab deploys MetalLB on the clusters it runs)')
  } else if (lb.enabled === true && traits && !traits.labNetwork && lbAddresses === undefined) {
    add(['addons', 'loadBalancer', 'enabled'], `needs addons.loadBalancer.addresses with provider.type "${providerType}": a range on the hosts' network that nothing else uses`)
  }
  if (obj(root.addons).ingress === true && !lbOn) {
    add(['addons', 'ingress'], 'needs addons.loadBalancer on (Traefik\'s Service is a LoadBalancer: its address is what Ingresses publish and the host forward dials)')
  }
  if (labNet && lbOn && (pool === undefined || pool.ok)) {
    const range = pool?.ok ? pool.range : cidr.upperEighth(labNet)
    const at = lbAddresses === undefined ? ['provider', 'network'] : ['addons', 'loadBalancer', 'addresses']
    const inRange = (ip: number) => ip >= range.first && ip <= range.last
    if (range.first <= labNet.base + 1 || range.last >= cidr.last(labNet)) {
      add(at, `${cidr.formatRange(range)} must lie inside provider.network ${cidr.formatCidr(labNet)}, without its network, bridge and broadcast addresses`)
    } else {
      const clash = deriveAddresses(labNet, nodes.map((n) => str(n.address))).findIndex((a) => a !== undefined && inRange(cidr.parseIPv4(a)!))
      if (clash >= 0) add(at, `the LoadBalancer pool ${cidr.formatRange(range)} holds the address of nodes[${clash}]; give the pool (addons.loadBalancer.addresses) and the nodes different addresses`)
    }
  }

  // Egress: the uplink's link network apart from every other network; resolvers are addresses.
  const egress = obj(root.egress)
  const uplinkCidr = cidrAt(['egress', 'uplinkCIDR'], egress.uplinkCIDR)
  if (uplinkCidr) {
    if (uplinkCidr.prefix > 30) add(['egress', 'uplinkCIDR'], `is too small (/${uplinkCidr.prefix}); the uplink needs /30 or larger (two addresses)`)
    for (const [name, other] of [['provider.network', labNet], ['kubernetes.clusterCIDR', clusterCidr], ['kubernetes.serviceCIDR', serviceCidr]] as const) {
      if (other && cidr.overlaps(uplinkCidr, other)) add(['egress', 'uplinkCIDR'], `overlaps ${name} ${cidr.formatCidr(other)}; the uplink's link network must be its own`)
    }
  }
  if (Array.isArray(egress.dns)) {
    egress.dns.forEach((d, i) => {
      const text = str(d)
      if (text !== undefined && /^\d{1,3}(\.\d{1,3}){3}$/.test(text) && cidr.parseIPv4(text) === undefined) add(['egress', 'dns', i], `must be an IPv4 address; got "${text}"`)
    })
  }
  for (const key of ['http', 'https'] as const) {
    const text = str(obj(egress.proxy)[key])
    const port = text === undefined ? undefined : /:(\d+)\/?$/.exec(text)?.[1]
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) add(['egress', 'proxy', key], `has port ${port}, outside 1-65535; got "${text}"`)
  }
  // The host's proxy variables stand in for egress.proxy (egress on only): they go into unit files, so they are held to the same shape.
  if (egress.enabled !== false && egress.proxy === undefined) {
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY']) {
      const text = hostProxy(env, name)
      if (text && !PROXY_URL.test(text)) add(['egress'], `the host's ${name} (used as egress.proxy.${name.startsWith('HTTPS') ? 'https' : 'http'}) must be an http(s) URL such as http://proxy.example:3128; got ${JSON.stringify(text)} (set egress.proxy, or KUBELAB_EGRESS=off)`, 'parent')
    }
  }
  if (egress.uplinkNetns !== undefined && traits && !traits.labNetwork) {
    add(['egress', 'uplinkNetns'], `only applies to machines in a lab namespace (nspawn, qemu); provider.type "${providerType}" has none`, 'key')
  }

  // Artifact sources that need a location.
  const source = str(artifacts.source)
  if (source === 'mirror' && artifacts.mirror === undefined) add(['artifacts', 'mirror'], 'required when artifacts.source is "mirror"', 'parent')
  if (source === 'bundle' && artifacts.bundle === undefined) add(['artifacts', 'bundle'], 'required when artifacts.source is "bundle"', 'parent')

  return problems
}

/** Every problem of the config as written: structural first, then cross-field. */
export function validate(data: unknown, env: Readonly<Record<string, string | undefined>>, baseDir?: string): Problem[] {
  if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) {
    return [{ path: [], message: `must be a mapping with at least a "nodes" list; got ${describeValue(data)}`, anchor: 'value' }]
  }
  const structural = validateSchema(data) ? [] : (validateSchema.errors ?? []).map(structuralProblem)
  const broken = new Set(structural.map((p) => formatPath(p.path)))
  const cross = crossCheck(data, env, baseDir).filter((p) => !broken.has(formatPath(p.path)))
  // Field types (fields.ts): only where nothing else has spoken about the value yet.
  const said = new Set([...broken, ...cross.map((p) => formatPath(p.path))])
  const versionSupported = (v: string) => { const p = parseVersion(v); return p !== undefined && isSupported(p) }
  const fields = fieldProblems(data, { parseMemoryMiB, versionSupported, ...(baseDir !== undefined ? { baseDir } : {}) })
    .filter((p) => !said.has(formatPath(p.path)))
  return [...structural, ...cross, ...fields]
}
