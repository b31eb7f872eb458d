// The versions lock (artifacts/versions.lock.yaml): per supported Kubernetes minor, every upstream
// component with its version, URL template per arch, checksum location, the files it yields and
// the sha256 of the upstream asset (null = not pinned yet). Parsing reports every problem at once.

import { readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'
import { ArtifactError } from '../errors.ts'
import { packagePath } from '../host/package.ts'
import { parsedOnce } from '../host/parsed-yaml.ts'

export const ARCHES = ['amd64', 'arm64'] as const
export type Arch = (typeof ARCHES)[number]
/** `registry`: the control-plane node, when addons.registry is on; `netpol`: every node, when network.policy is on. */
export type NodeSelector = 'all' | 'control-plane' | 'image' | 'registry' | 'netpol'

/** The lock shipped with kubelab. */
export const DEFAULT_LOCK_FILE = packagePath('artifacts/versions.lock.yaml')

export interface LockFile {
  /** Name of the file inside its component: for archives the member path (rendered), else the asset itself. */
  readonly name: string
  readonly path?: string
  readonly install?: string
  readonly nodes: NodeSelector
  readonly versionArgs: readonly string[]
}

export interface LockComponent {
  readonly name: string
  readonly version: string
  /** The build.sh COMPONENT that makes these files from Go modules. */
  readonly build: string
  /** Upstream's asset URL template; absent: upstream publishes no binary (images only), so the files come from a build, a mirror or a bundle. */
  readonly url?: string
  readonly checksum?: string
  readonly archive?: 'tar.gz'
  readonly files: readonly LockFile[]
  /** sha256 of the upstream asset per arch; null = not pinned yet. */
  readonly sha256: Readonly<Record<Arch, string | null>>
  /** `nodes: image` files: the addon (config key under `addons:`) that needs them; default coredns. */
  readonly addon?: string
}

export interface LockMinor {
  readonly minor: string
  readonly kubernetes: string
  readonly components: readonly LockComponent[]
}

export interface VersionsLock {
  readonly file: string
  readonly defaultMinor: string
  readonly minors: readonly LockMinor[]
}

const PLACEHOLDERS = new Set(['version', 'semver', 'arch', 'url'])
const SHA = /^[0-9a-f]{64}$/

/** Renders `{version}`, `{semver}`, `{arch}` (and `{url}` for checksum templates). */
export function renderTemplate(template: string, values: { version: string; arch: Arch; url?: string }): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, key: string) => {
    switch (key) {
      case 'version': return values.version
      case 'semver': return values.version.replace(/^v/, '')
      case 'arch': return values.arch
      case 'url':
        if (values.url === undefined) throw new ArtifactError(`{url} is only allowed in checksum templates: ${template}`)
        return values.url
      default: throw new ArtifactError(`unknown placeholder ${whole} in ${template}`)
    }
  })
}

/** The upstream URL of a component's asset for one arch. */
export function assetUrl(c: LockComponent, arch: Arch): string {
  if (c.url === undefined) throw new ArtifactError(`${c.name} ${c.version}: upstream publishes no binary to download (only images); kubelab builds it from its Go module`, { component: c.name }, { hint: 'use artifacts.source: auto or build (or a mirror or bundle that has it)' })
  return renderTemplate(c.url, { version: c.version, arch })
}

/** Where upstream publishes the sha256 of that asset. */
export function checksumUrl(c: LockComponent, arch: Arch): string {
  if (c.checksum === undefined) return assetUrl(c, arch)
  return renderTemplate(c.checksum, { version: c.version, arch, url: assetUrl(c, arch) })
}

/** The member path of a file inside the component's archive (leading ./ removed). */
export function memberPath(c: LockComponent, f: LockFile, arch: Arch): string {
  return renderTemplate(f.path ?? f.name, { version: c.version, arch }).replace(/^(\.\/)+/, '')
}

/** Last path element of the asset URL (the upstream file name). */
export function assetBasename(c: LockComponent, arch: Arch): string {
  return new URL(assetUrl(c, arch)).pathname.split('/').pop()!
}

/** Relative path of an asset in a mirror: COMPONENT/VERSION/ARCH/BASENAME. */
export function mirrorPath(c: LockComponent, arch: Arch): string {
  return `${c.name}/${c.version}/${arch}/${c.url === undefined ? c.files[0]!.name : assetBasename(c, arch)}`
}

export function parseLock(text: string, file: string): VersionsLock {
  const parsed = parsedOnce('versions-lock', text, (t) => {
    const doc = parseDocument(t, { uniqueKeys: true })
    const errors = doc.errors.map((e) => e.message)
    return { value: { errors, raw: errors.length ? {} : (doc.toJS() as unknown) }, keep: errors.length === 0 }
  })
  const problems: string[] = [...parsed.errors]
  const raw = parsed.raw
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  const str = (v: unknown, at: string): string => {
    if (typeof v === 'string' && v !== '') return v
    problems.push(`${at}: must be a non-empty string`)
    return ''
  }
  const checkTemplate = (t: string, at: string, allowUrl: boolean) => {
    for (const m of t.matchAll(/\{([a-z]+)\}/g)) {
      if (!PLACEHOLDERS.has(m[1]!) || (m[1] === 'url' && !allowUrl)) problems.push(`${at}: unknown placeholder {${m[1]}}`)
    }
  }
  const minors: LockMinor[] = []
  let defaultMinor = ''
  if (isObj(raw)) {
    if (raw.schema !== 1) problems.push('schema: must be 1')
    defaultMinor = str(raw.default, 'default')
    const ms = raw.minors
    if (!isObj(ms)) problems.push('minors: must be a map of "1.NN" to a minor')
    for (const [minor, m] of Object.entries(isObj(ms) ? ms : {})) {
      const at = `minors.${minor}`
      if (!/^1\.\d+$/.test(minor)) problems.push(`${at}: key must look like "1.35"`)
      if (!isObj(m)) { problems.push(`${at}: must be a map`); continue }
      const kubernetes = str(m.kubernetes, `${at}.kubernetes`)
      if (kubernetes && !kubernetes.startsWith(`v${minor}.`)) problems.push(`${at}.kubernetes: ${kubernetes} is not a ${minor} version`)
      const components: LockComponent[] = []
      for (const [name, c] of Object.entries(isObj(m.components) ? m.components : {})) {
        const cat = `${at}.components.${name}`
        if (!isObj(c)) { problems.push(`${cat}: must be a map`); continue }
        for (const k of Object.keys(c)) {
          if (!['version', 'build', 'url', 'checksum', 'archive', 'files', 'sha256', 'addon'].includes(k)) problems.push(`${cat}.${k}: unknown key`)
        }
        // Both absent: a build-only component (upstream ships images, no binary).
        const buildOnly = c.url === undefined && c.checksum === undefined
        const url = buildOnly ? undefined : str(c.url, `${cat}.url`)
        const checksum = buildOnly ? undefined : str(c.checksum, `${cat}.checksum`)
        if (url !== undefined) checkTemplate(url, `${cat}.url`, false)
        if (checksum !== undefined) checkTemplate(checksum, `${cat}.checksum`, true)
        if (c.archive !== undefined && c.archive !== 'tar.gz') problems.push(`${cat}.archive: must be tar.gz`)
        const sha256 = {} as Record<Arch, string | null>
        const shas = isObj(c.sha256) ? c.sha256 : {}
        for (const arch of ARCHES) {
          const v = shas[arch]
          if (v === null || v === undefined) sha256[arch] = null
          else if (typeof v === 'string' && SHA.test(v)) sha256[arch] = v
          else { problems.push(`${cat}.sha256.${arch}: must be null or 64 lowercase hex digits`); sha256[arch] = null }
        }
        const files: LockFile[] = []
        for (const [fname, f] of Object.entries(isObj(c.files) ? c.files : {})) {
          const fat = `${cat}.files.${fname}`
          const fo = isObj(f) ? f : {}
          const nodes = fo.nodes ?? 'all'
          if (!['all', 'control-plane', 'image', 'registry', 'netpol'].includes(String(nodes))) problems.push(`${fat}.nodes: must be all, control-plane, image, registry or netpol`)
          const va = fo.version_args ?? ['--version']
          if (!Array.isArray(va) || !va.every((a) => typeof a === 'string')) problems.push(`${fat}.version_args: must be a list of strings`)
          if (fo.path !== undefined) checkTemplate(String(fo.path), `${fat}.path`, false)
          files.push({
            name: fname,
            ...(fo.path !== undefined ? { path: String(fo.path) } : {}),
            ...(fo.install !== undefined ? { install: String(fo.install) } : {}),
            nodes: nodes as NodeSelector,
            versionArgs: (Array.isArray(va) ? va : []) as string[],
          })
        }
        if (files.length === 0) problems.push(`${cat}.files: at least one file`)
        if (c.archive === undefined && files.length !== 1) problems.push(`${cat}.files: a plain (non-archive) asset yields exactly one file`)
        components.push({
          name,
          version: str(c.version, `${cat}.version`),
          build: str(c.build, `${cat}.build`),
          ...(url !== undefined ? { url } : {}),
          ...(checksum !== undefined ? { checksum } : {}),
          ...(c.archive === 'tar.gz' ? { archive: 'tar.gz' as const } : {}),
          files,
          sha256,
          ...(c.addon !== undefined ? { addon: str(c.addon, `${cat}.addon`) } : {}),
        })
      }
      if (components.length === 0) problems.push(`${at}.components: at least one component`)
      minors.push({ minor, kubernetes, components })
    }
    if (defaultMinor && !minors.some((m) => m.minor === defaultMinor)) problems.push(`default: ${defaultMinor} is not in minors`)
  } else if (!problems.length) {
    problems.push('the document must be a map')
  }
  if (problems.length) {
    throw new ArtifactError(`${file} is not a valid versions lock (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`)
  }
  return { file, defaultMinor, minors }
}

export function loadLock(file: string = DEFAULT_LOCK_FILE): VersionsLock {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ArtifactError(`cannot read the versions lock ${file}`, {}, { cause: err })
  }
  return parseLock(text, file)
}

/** The pinned set for a Kubernetes version; the lock pins exactly one patch per minor. */
export function minorFor(lock: VersionsLock, kubernetesVersion: string): LockMinor {
  const m = /^v(\d+\.\d+)\.\d+$/.exec(kubernetesVersion)
  const entry = m ? lock.minors.find((x) => x.minor === m[1]) : undefined
  if (!entry) {
    throw new ArtifactError(`Kubernetes ${kubernetesVersion} is not in the versions lock ${lock.file}`, {}, {
      hint: `the lock has ${lock.minors.map((x) => x.kubernetes).join(', ')}`,
    })
  }
  if (entry.kubernetes !== kubernetesVersion) {
    throw new ArtifactError(`Kubernetes ${kubernetesVersion} is not pinned: the lock pins ${entry.kubernetes} for ${entry.minor}`, {}, {
      hint: `set kubernetes.version: ${entry.kubernetes}, or add ${kubernetesVersion} to ${lock.file}`,
    })
  }
  return entry
}

export function isArch(a: string): a is Arch {
  return (ARCHES as readonly string[]).includes(a)
}

/** The host's architecture in Go/Kubernetes naming. */
export function hostArch(): Arch {
  const a = process.arch === 'x64' ? 'amd64' : process.arch
  if (!isArch(a)) throw new ArtifactError(`unsupported host architecture ${process.arch}`)
  return a
}

/**
 * Parses an upstream checksum file for `basename`: either a bare sha256, or `sha256sum` lines
 * (`HEX  NAME` / `HEX *NAME`, NAME possibly with a directory). undefined when not found.
 */
export function parseChecksumFile(text: string, basename: string): string | undefined {
  const trimmed = text.trim()
  if (SHA.test(trimmed.toLowerCase())) return trimmed.toLowerCase()
  for (const line of trimmed.split('\n')) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(\S+)\s*$/.exec(line.trim())
    if (m && m[2]!.replace(/^.*\//, '') === basename) return m[1]!.toLowerCase()
  }
  return undefined
}
