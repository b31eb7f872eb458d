// Field types of the config values that reach a script, a unit file or a command line on a node:
// each checker says why a text is not of its type (undefined when it is). The JSON Schema keeps
// the shapes; these are the rules a schema pattern says badly or not at all: IPv4 octets without
// leading zeros, hosts, Kubernetes label keys and values, URLs (scheme, host, port, no user info),
// image references, memory, a Kubernetes version the versions lock pins. `fieldProblems` applies
// them to the config as written; validate.ts adds what it finds to every other problem.

import path from 'node:path'
import { DEFAULT_LOCK_FILE, loadLock } from '../artifacts/lock.ts'

export type FieldCheck = (text: string) => string | undefined

const got = (text: string) => `; got ${JSON.stringify(text)}`

/** Dotted-quad IPv4: four decimal octets 0-255, no leading zeros (iproute2 reads 010 as octal 8). */
export function ipv4Problem(text: string): string | undefined {
  const parts = text.split('.')
  if (parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined
  if (parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return `must be an IPv4 address without leading zeros (iproute2 reads 010 as octal 8)${got(text)}`
  }
  return `must be an IPv4 address such as 10.0.0.10${got(text)}`
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

/** A DNS-1123 subdomain: lowercase labels of at most 63 characters joined by dots, at most 253 in all. */
export function dnsNameProblem(text: string): string | undefined {
  if (text.length <= 253 && text.split('.').every((l) => DNS_LABEL.test(l))) return undefined
  return `must be a DNS name: lowercase letters, digits, - and . (labels of at most 63 characters)${got(text)}`
}

/** A host to reach: an IPv4 address or a DNS name (whose last label is not all digits). */
export function hostProblem(text: string): string | undefined {
  if (/^[0-9.]+$/.test(text)) return ipv4Problem(text)
  if (dnsNameProblem(text) === undefined && !/^\d+$/.test(text.split('.').pop()!)) return undefined
  return `must be an IPv4 address or a DNS name (lowercase letters, digits, - and .)${got(text)}`
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/

/** A label (or taint) key as Kubernetes checks it: `[prefix/]name`, prefix a DNS name, name at most 63. */
export function labelKeyProblem(text: string): string | undefined {
  const slash = text.lastIndexOf('/')
  const prefix = slash >= 0 ? text.slice(0, slash) : undefined
  const name = text.slice(slash + 1)
  const nameOk = name.length <= 63 && LABEL_NAME.test(name)
  const prefixOk = prefix === undefined || (prefix !== '' && dnsNameProblem(prefix) === undefined)
  if (nameOk && prefixOk) return undefined
  return `must be a Kubernetes label key: [DNS-name/]name, the name at most 63 letters, digits, -, _ and . beginning and ending with a letter or digit${got(text)}`
}

/** A label (or taint) value: empty, or at most 63 letters, digits, -, _ and . beginning and ending with a letter or digit. */
export function labelValueProblem(text: string): string | undefined {
  if (text === '' || (text.length <= 63 && LABEL_NAME.test(text))) return undefined
  return `must be a Kubernetes label value: empty, or at most 63 letters, digits, -, _ and . beginning and ending with a letter or digit${got(text)}`
}

/** `key[=value]:Effect`, key and value by the label rules. */
export function taintProblem(text: string): string | undefined {
  const colon = text.lastIndexOf(':')
  const [key, ...rest] = text.slice(0, Math.max(0, colon)).split('=')
  const effect = text.slice(colon + 1)
  if (colon < 0 || !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(effect)) {
    return `must be key[=value]:Effect with Effect one of NoSchedule, PreferNoSchedule, NoExecute${got(text)}`
  }
  const why = labelKeyProblem(key!) ?? (rest.length > 0 ? labelValueProblem(rest.join('=')) : undefined)
  return why ? `taint ${why.replace(/^must be a Kubernetes/, 'must have a Kubernetes')}` : undefined
}

export interface UrlRules {
  readonly schemes: readonly string[]
  /** A path is allowed (a mirror's base path); otherwise only `/` or nothing. */
  readonly path: boolean
  /** What the message shows as an example. */
  readonly example: string
}

/**
 * A URL from the config: one of `schemes`, a host (IPv4 without leading zeros or a DNS name), a port
 * 1-65535 when given, no user info (credentials go in the environment), no query or fragment. Checked
 * on the text as written: the WHATWG parser would quietly read 010 in a host as octal.
 */
export function urlProblem(text: string, rules: UrlRules): string | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)([?#].*)?$/s.exec(text)
  if (!m) return `must be a URL such as ${rules.example}${got(text)}`
  const [, scheme, authority, urlPath, rest] = m as unknown as [string, string, string, string, string | undefined]
  if (!rules.schemes.includes(scheme.toLowerCase())) return `must be a ${rules.schemes.join(':// or ')}:// URL${got(text)}`
  if (authority.includes('@')) return `must have no user info (user:password@); credentials come from the environment${got(text)}`
  const hp = /^([^:]*)(?::(\d*))?$/.exec(authority)
  if (!hp || hp[1] === '') return `must name a host, as in ${rules.example}${got(text)}`
  const hostWhy = hostProblem(hp[1]!.toLowerCase())
  if (hostWhy) return `must name a host that is an IPv4 address or a DNS name${got(text)}`
  if (hp[2] !== undefined && !(/^\d{1,5}$/.test(hp[2]) && Number(hp[2]) >= 1 && Number(hp[2]) <= 65535)) {
    return `must have a port from 1 to 65535${got(text)}`
  }
  if (rest !== undefined) return `must have no query or fragment${got(text)}`
  if (!rules.path && urlPath !== '' && urlPath !== '/') return `must have no path, as in ${rules.example}${got(text)}`
  if (/[\s\\"'`$]/.test(urlPath)) return `must have a path without spaces, quotes, \\, \` or $${got(text)}`
  return undefined
}

export const httpUrl = (example: string): FieldCheck => (t) => urlProblem(t, { schemes: ['http', 'https'], path: true, example })

/** The API server of an external control plane: https, host, optional port, nothing else. */
export const endpointProblem: FieldCheck = (t) => urlProblem(t, { schemes: ['https'], path: false, example: 'https://10.0.0.10:6443' })

// Image references, as the distribution reference grammar spells them.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const DOMAIN = '(?:[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?)(?:\\.(?:[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?))*(?::[0-9]+)?'
const IMAGE_REF = new RegExp(`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`)

/** An image reference: `[registry[:port]/]path[:tag][@digest]`, lowercase path, at most 255 characters of name. */
export function imageRefProblem(text: string): string | undefined {
  const name = text.split('@')[0]!.replace(/:[\w][\w.-]{0,127}$/, '')
  if (IMAGE_REF.test(text) && name.length <= 255) return undefined
  return `must be an image reference such as registry.example.com/kubelab/testbox:1.0${got(text)}`
}

/** A registry host as image names spell it: a host (any case, as registries are named) and a port 1-65535. */
export function registryHostProblem(text: string): string | undefined {
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(text)
  if (m && hostProblem(m[1]!.toLowerCase()) === undefined && (m[2] === undefined || (Number(m[2]) >= 1 && Number(m[2]) <= 65535))) return undefined
  return `must be a registry host as image names spell it (such as docker.io or registry.example.com:5000, port 1-65535)${got(text)}`
}

/** A multipass image: an alias such as 24.04, noble or daily:24.04, or an http(s)/file URL. */
export function multipassImageProblem(text: string): string | undefined {
  if (/^[A-Za-z0-9][A-Za-z0-9.:_-]{0,127}$/.test(text)) return undefined
  if (/^(https?|file):\/\//.test(text) && !/[\s\\"'`$]/.test(text)) return undefined
  return `must be a multipass image such as 24.04, noble or daily:24.04, or an http(s)/file URL${got(text)}`
}

/** A login name as ssh and sudo take it: letters, digits, _, . and -, not beginning with - or a digit. */
export function userProblem(text: string): string | undefined {
  if (/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(text)) return undefined
  return `must be a user name: letters, digits, _, . and -, beginning with a letter or _ (at most 32)${got(text)}`
}

/** A directory on this host or an http(s) URL with the download layout. */
export function mirrorLocationProblem(text: string): string | undefined {
  if (text.includes('://')) return httpUrl('https://mirror.example.com/kubelab')(text)
  if (text.startsWith('-') || /[\0-\x1f]/.test(text)) return `must be a directory or an http(s) URL${got(text)}`
  return undefined
}

/** The smallest machine kubelet and containerd run on. */
export const MIN_MEMORY_MIB = 256

/** Memory as the schema spells it, in MiB once rounded: at least MIN_MEMORY_MIB. */
export function memoryProblem(text: string, mib: number | undefined): string | undefined {
  if (mib === undefined || mib >= MIN_MEMORY_MIB) return undefined
  return `must be at least ${MIN_MEMORY_MIB}MiB (a node runs kubelet and containerd)${got(text)}`
}

/** Where the problem is, in the config as written (the shape validate.ts's Problem has). */
export interface FieldProblem {
  path: (string | number)[]
  message: string
  anchor: 'value' | 'key'
}

type Obj = Record<string, unknown>
const asObj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {})

/**
 * Every field type problem of the config as written. `parseMemoryMiB` and the version checks come
 * from resolve.ts and versions.ts through the caller (no import circle). `baseDir` resolves
 * artifacts.lock; without it the lock is not read.
 */
export function fieldProblems(data: unknown, o: {
  parseMemoryMiB: (text: string) => number | undefined
  /** The version is well formed and in the supported range (other problems are reported elsewhere). */
  versionSupported: (version: string) => boolean
  baseDir?: string
}): FieldProblem[] {
  const out: FieldProblem[] = []
  const check = (p: (string | number)[], value: unknown, fn: FieldCheck, anchor: 'value' | 'key' = 'value') => {
    const why = typeof value === 'string' ? fn(value) : undefined
    if (why) out.push({ path: p, message: why, anchor })
  }
  const root = asObj(data)
  const provider = asObj(root.provider)
  const ssh = asObj(root.ssh)
  const artifacts = asObj(root.artifacts)

  check(['provider', 'debianMirror'], provider.debianMirror, httpUrl('http://deb.example.com/debian'))
  check(['provider', 'qemu', 'image', 'url'], asObj(asObj(provider.qemu).image).url, httpUrl('https://cloud.example.com/debian-13-genericcloud-amd64.qcow2'))
  check(['provider', 'multipass', 'image'], asObj(provider.multipass).image, multipassImageProblem)
  check(['controlPlane', 'endpoint'], asObj(root.controlPlane).endpoint, endpointProblem)
  check(['artifacts', 'mirror'], artifacts.mirror, mirrorLocationProblem)
  check(['ssh', 'user'], ssh.user, userProblem)
  check(['ssh', 'bastion', 'host'], asObj(ssh.bastion).host, hostProblem)
  check(['ssh', 'bastion', 'user'], asObj(ssh.bastion).user, userProblem)
  check(['smoke', 'image'], asObj(root.smoke).image, imageRefProblem)
  for (const host of Object.keys(asObj(root.registries))) check(['registries', host], host, registryHostProblem, 'key')

  const nodes = Array.isArray(root.nodes) ? root.nodes.map(asObj) : []
  nodes.forEach((n, i) => {
    check(['nodes', i, 'address'], n.address, hostProblem)
    check(['nodes', i, 'memory'], n.memory, (t) => memoryProblem(t, o.parseMemoryMiB(t)))
    for (const [key, value] of Object.entries(asObj(n.labels))) {
      check(['nodes', i, 'labels', key], key, labelKeyProblem, 'key')
      check(['nodes', i, 'labels', key], value, labelValueProblem)
    }
    if (Array.isArray(n.taints)) n.taints.forEach((taint, j) => check(['nodes', i, 'taints', j], taint, taintProblem))
  })

  const version = asObj(root.kubernetes).version
  if (typeof version === 'string' && o.versionSupported(version) && o.baseDir !== undefined) {
    const lockPath = typeof artifacts.lock === 'string' ? path.resolve(o.baseDir, artifacts.lock) : DEFAULT_LOCK_FILE
    let pinned: string[]
    try {
      pinned = loadLock(lockPath).minors.map((m) => m.kubernetes)
    } catch (err) {
      out.push({ path: typeof artifacts.lock === 'string' ? ['artifacts', 'lock'] : ['kubernetes', 'version'], message: (err as Error).message, anchor: 'value' })
      return out
    }
    if (!pinned.includes(version)) {
      out.push({ path: ['kubernetes', 'version'], message: `must be a version the versions lock pins (${pinned.join(', ')}; ${path.basename(lockPath)})${got(version)}`, anchor: 'value' })
    }
  }
  return out
}
