// resolveArtifacts(config, {arch, progress}): every file the config needs as a verified local
// file. Order of work: what the config needs (from the lock) -> what the cache already has (index
// for downloads/mirror/bundle, build lock for builds; a warm cache makes no network request) ->
// the configured source for the rest (download | mirror | build | bundle | auto).

import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import { addonEnabled, type AddonsConfig, type ClusterConfig } from '../config/types.ts'
import { ArtifactError, NotMadeError, type WouldMake } from '../errors.ts'
import type { Progress } from '../log/progress.ts'
import { withFileLock } from '../providers/common/lock.ts'
import { buildTargets, builtRecord, ensureBuilt, findOnPath, lastBuildMs, type BuildOutcome } from './build.ts'
import { openBundle } from './bundle.ts'
import {
  blobPath, buildDir, cacheDir, commitBlob, readIndex, removeQuietly, sizeOf, tmpPath, writeIndex,
  type CachedFile, type IndexEntry, type Origin,
} from './cache.ts'
import { fetchToFile, HttpClient, isUnreachable, progressBar } from './fetch.ts'
import {
  assetBasename, assetUrl, checksumUrl, DEFAULT_LOCK_FILE, hostArch, loadLock, memberPath, minorFor, mirrorPath,
  parseChecksumFile, type Arch, type LockComponent, type LockFile, type VersionsLock,
} from './lock.ts'
import { readTar } from './tar.ts'
import { rememberDigest, verifyCached } from './verify.ts'

/** One file a cluster needs, verified and on local disk. */
import type { Artifact } from './cache.ts'
export type { Artifact }

export interface Needed {
  readonly component: LockComponent
  readonly files: readonly LockFile[]
}

export interface ResolveOptions {
  arch?: Arch
  progress: Progress
  env?: Readonly<Record<string, string | undefined>>
  /** Counts requests; pass one to assert that nothing went to the network. */
  http?: HttpClient
  /** build.sh substitute (tests). */
  buildScript?: string
  /** Only what the cache holds: anything missing is a NotMadeError naming it (`plan`, `status`). */
  readOnly?: boolean
}

/** Everything a resolve needs, passed down instead of module state. */
export interface ArtifactContext {
  readonly config: ClusterConfig
  readonly lock: VersionsLock
  readonly cache: string
  readonly arch: Arch
  readonly progress: Progress
  readonly http: HttpClient
  readonly env: Readonly<Record<string, string | undefined>>
  readonly buildScript?: string
}

export function lockFileFor(config: ClusterConfig): string {
  return config.artifacts.lock ? path.resolve(path.dirname(config.file), config.artifacts.lock) : DEFAULT_LOCK_FILE
}

export function makeContext(config: ClusterConfig, options: ResolveOptions): ArtifactContext {
  const env = options.env ?? process.env
  return {
    config,
    lock: loadLock(lockFileFor(config)),
    cache: cacheDir(env),
    arch: options.arch ?? hostArch(),
    progress: options.progress,
    http: options.http ?? new HttpClient(),
    env,
    ...(options.buildScript ? { buildScript: options.buildScript } : {}),
  }
}

/** The lock components (and their files) this config needs, in lock order. */
export function neededComponents(config: ClusterConfig, lock: VersionsLock): Needed[] {
  const minor = minorFor(lock, config.kubernetes.version)
  const managed = config.controlPlane.mode === 'managed'
  // An image's binary while its addon is on (coredns when the lock names none, as before addons had folders).
  const image = (c: LockComponent) => addonEnabled(config, (c.addon ?? 'coredns') as keyof AddonsConfig)
  const wanted = (c: LockComponent) => (f: LockFile) => f.nodes === 'all' || (f.nodes === 'control-plane' && managed) || (f.nodes === 'image' && image(c))
    || (f.nodes === 'registry' && config.addons.registry?.enabled === true && managed)
    || (f.nodes === 'netpol' && config.network?.policy === true && managed)
  return minor.components
    .map((component) => ({ component, files: component.files.filter(wanted(component)) }))
    .filter((n) => n.files.length > 0)
}

function toArtifacts(n: Needed, arch: Arch, origin: Origin, where: (f: LockFile) => { path: string } & CachedFile): Artifact[] {
  return n.files.map((f) => {
    const w = where(f)
    return {
      component: n.component.name,
      file: f.name,
      version: n.component.version,
      arch,
      path: w.path,
      sha256: w.sha256,
      size: w.size,
      origin,
      nodes: f.nodes,
      ...(f.install ? { install: f.install } : {}),
    }
  })
}

/**
 * A usable index entry: every file present, not stale against the lock pin, and holding its
 * sha256 (hashed again only when the file's identity changed; a changed file is an error).
 */
async function fromIndex(ctx: ArtifactContext, n: Needed, upstreamOnly: boolean): Promise<Artifact[] | undefined> {
  const entry = await readIndex(ctx.cache, ctx.arch, n.component.name, n.component.version)
  if (!entry) return undefined
  const pin = n.component.sha256[ctx.arch]
  if (upstreamOnly && entry.assetSha256 === null) return undefined
  if (pin && entry.assetSha256 && entry.assetSha256 !== pin) return undefined
  for (const f of n.files) {
    const c = entry.files[f.name]
    if (!c) return undefined
    if (!(await verifyCached(ctx.cache, blobPath(ctx.cache, c.sha256), c.sha256, `${n.component.name} ${n.component.version} (${ctx.arch}) ${f.name}`))) return undefined
  }
  return toArtifacts(n, ctx.arch, entry.origin, (f) => ({ path: blobPath(ctx.cache, entry.files[f.name]!.sha256), ...entry.files[f.name]! }))
}

async function fromBuild(ctx: ArtifactContext, n: Needed): Promise<Artifact[] | undefined> {
  const target = { build: n.component.build, version: n.component.version, files: n.files }
  const record = await builtRecord(ctx.cache, target, ctx.arch)
  if (!record) return undefined
  const dir = buildDir(ctx.cache, target.build, target.version, ctx.arch)
  for (const f of n.files) {
    const what = `${n.component.name} ${n.component.version} (${ctx.arch}) ${f.name}, built here`
    if (!(await verifyCached(ctx.cache, path.join(dir, f.name), record.files[f.name]!.sha256, what))) return undefined
  }
  return toArtifacts(n, ctx.arch, 'build', (f) => ({ path: path.join(dir, f.name), sha256: record.files[f.name]!.sha256, size: record.files[f.name]!.size }))
}

/** What is already in the cache for `n`, honouring which origins the source accepts. */
export async function lookupCached(ctx: ArtifactContext, n: Needed): Promise<Artifact[] | undefined> {
  const source = ctx.config.artifacts.source
  if (source === 'build') return fromBuild(ctx, n)
  const indexed = await fromIndex(ctx, n, source === 'download' || source === 'mirror')
  if (indexed || source !== 'auto') return indexed
  return fromBuild(ctx, n)
}

// ---- download and mirror ---------------------------------------------------------------------

interface Origin2 {
  origin: 'download' | 'mirror'
  /** Where the bytes come from (URL or path). */
  from: string
  expected: string
  verifiedBy: IndexEntry['verifiedBy']
}

async function expectedForDownload(ctx: ArtifactContext, c: LockComponent): Promise<Origin2> {
  const url = assetUrl(c, ctx.arch)
  const pin = c.sha256[ctx.arch]
  if (pin) return { origin: 'download', from: url, expected: pin, verifiedBy: 'lock' }
  const sumUrl = checksumUrl(c, ctx.arch)
  const sum = parseChecksumFile(await ctx.http.text(sumUrl), assetBasename(c, ctx.arch))
  if (!sum) throw new ArtifactError(`${sumUrl} has no sha256 for ${assetBasename(c, ctx.arch)}`, { component: c.name, url: sumUrl })
  ctx.progress.warn(`${c.name} ${c.version} (${ctx.arch}): sha256 not pinned in ${path.basename(ctx.lock.file)}; checked against upstream's published checksum only (run \`kubelab artifacts lock\`)`)
  return { origin: 'download', from: url, expected: sum, verifiedBy: 'upstream-checksum' }
}

/** The mirror location; a relative directory is relative to the config file, like lock and bundle. */
function mirrorBase(ctx: ArtifactContext): string {
  const m = ctx.config.artifacts.mirror!
  return /^(https?|file):\/\//.test(m) ? m : path.resolve(path.dirname(ctx.config.file), m)
}

function joinMirror(base: string, rel: string): string {
  return /^(https?|file):\/\//.test(base) ? `${base.replace(/\/+$/, '')}/${rel}` : path.join(base, rel)
}

async function mirrorManifest(ctx: ArtifactContext, memo: Map<string, Promise<Map<string, string>>>): Promise<Map<string, string>> {
  const base = mirrorBase(ctx)
  let p = memo.get(base)
  if (!p) {
    p = (async () => {
      const loc = joinMirror(base, 'SHA256SUMS')
      let text: string
      if (/^https?:\/\//.test(loc)) text = await ctx.http.text(loc)
      else {
        const chunks: Buffer[] = []
        try {
          for await (const c of createReadStream(loc)) chunks.push(c as Buffer)
        } catch (err) {
          throw new ArtifactError(`the mirror has no checksum manifest: cannot read ${loc}`, { url: loc }, { cause: err, hint: 'a mirror holds COMPONENT/VERSION/ARCH/FILE plus SHA256SUMS (lines "HEX  RELATIVE/PATH")' })
        }
        text = Buffer.concat(chunks).toString('utf8')
      }
      const m = new Map<string, string>()
      for (const line of text.split('\n')) {
        const x = /^([0-9a-f]{64})\s+\*?(\S+)\s*$/.exec(line.trim())
        if (x) m.set(x[2]!.replace(/^\.\//, ''), x[1]!)
      }
      return m
    })()
    memo.set(base, p)
  }
  return p
}

async function expectedForMirror(ctx: ArtifactContext, c: LockComponent, memo: Map<string, Promise<Map<string, string>>>): Promise<Origin2> {
  const rel = mirrorPath(c, ctx.arch)
  const pin = c.sha256[ctx.arch]
  const listed = (await mirrorManifest(ctx, memo)).get(rel)
  const from = joinMirror(mirrorBase(ctx), rel)
  if (pin && listed && pin !== listed) {
    throw new ArtifactError(`the mirror's SHA256SUMS disagrees with the lock for ${rel}\n  expected (lock)   ${pin}\n  mirror manifest   ${listed}`, {
      component: c.name, url: from, expected: pin, actual: listed,
    }, { hint: 'refresh the mirror from upstream, or check who changed it' })
  }
  const expected = pin ?? listed
  if (!expected) throw new ArtifactError(`the mirror's SHA256SUMS does not list ${rel} and the lock has no pin for it`, { component: c.name, url: from })
  return { origin: 'mirror', from, expected, verifiedBy: pin ? 'lock' : 'mirror-manifest' }
}

function mismatch(c: LockComponent, arch: Arch, from: string, expected: string, actual: string): ArtifactError {
  return new ArtifactError(
    `sha256 mismatch for ${c.name} ${c.version} (${arch}) from ${from}; the file was deleted\n  expected ${expected}\n  actual   ${actual}`,
    { component: c.name, url: from, expected, actual },
    { hint: 'someone changed the file upstream or on the mirror, or the lock pin is wrong: do not use it until you know which' },
  )
}

/**
 * Fetches the asset (resuming or restarting on a broken connection), verifies it, stores it. The
 * partial file is kept by URL so a later run resumes it; one download of a URL at a time (a file
 * lock across processes: an `up` while `plan` resolves), the second finds the blob stored.
 */
async function fetchAsset(ctx: ArtifactContext, c: LockComponent, o: Origin2): Promise<string> {
  const have = blobPath(ctx.cache, o.expected)
  const what = `${c.name} ${c.version} (${ctx.arch}) ${assetBasename(c, ctx.arch)}`
  if (await verifyCached(ctx.cache, have, o.expected, what)) return have
  const partial = path.join(ctx.cache, 'tmp', `${createHash('sha256').update(o.from).digest('hex').slice(0, 16)}.partial`)
  return withFileLock(`${partial}.lock`, { wait: true, what: `downloading ${o.from}` }, async () => {
    if (await verifyCached(ctx.cache, have, o.expected, what)) return have
    return download(ctx, c, o, partial)
  })
}

async function download(ctx: ArtifactContext, c: LockComponent, o: Origin2, partial: string): Promise<string> {
  const bar = ctx.progress.interactive ? progressBar(`${c.name} ${c.version}`, (s) => process.stderr.write(s)) : undefined
  for (let fresh = 0; ; fresh++) {
    let r
    try {
      r = await fetchToFile(ctx.http, o.from, partial, bar?.update)
    } finally {
      bar?.end()
    }
    if (r.sha256 === o.expected) break
    await removeQuietly(partial)
    if (r.resumed && fresh === 0) continue // a resumed body may have joined two different files: once more from scratch
    throw mismatch(c, ctx.arch, o.from, o.expected, r.sha256)
  }
  const blob = await commitBlob(ctx.cache, partial, o.expected, c.archive ? 0o644 : 0o755)
  await rememberDigest(ctx.cache, blob, o.expected)
  return blob
}

/** Extracts the component's files from its verified asset into blobs; returns name -> blob. */
async function extract(ctx: ArtifactContext, c: LockComponent, asset: string, sha256: string): Promise<Record<string, CachedFile>> {
  if (!c.archive) {
    const size = (await sizeOf(asset))!
    return { [c.files[0]!.name]: { sha256, size } }
  }
  const wanted = new Map(c.files.map((f) => [memberPath(c, f, ctx.arch), f.name]))
  const found: Record<string, CachedFile> = {}
  await mkdir(path.join(ctx.cache, 'tmp'), { recursive: true })
  await readTar(createReadStream(asset), async (h, content) => {
    const name = wanted.get(h.name)
    if (!name || h.type !== 'file') return
    const tmp = tmpPath(ctx.cache, name)
    const hash = createHash('sha256')
    let size = 0
    await pipeline(content, new Transform({ transform(chunk: Buffer, _e, cb) { hash.update(chunk); size += chunk.length; cb(null, chunk) } }), createWriteStream(tmp))
    const hex = hash.digest('hex')
    await rememberDigest(ctx.cache, await commitBlob(ctx.cache, tmp, hex), hex)
    found[name] = { sha256: hex, size }
  })
  const missing = c.files.filter((f) => !found[f.name])
  if (missing.length) {
    throw new ArtifactError(`${path.basename(assetUrl(c, ctx.arch))} has no ${missing.map((f) => memberPath(c, f, ctx.arch)).join(', ')}`, { component: c.name }, {
      hint: 'the files.*.path entries of the lock do not match the archive',
    })
  }
  return found
}

async function fetchComponent(ctx: ArtifactContext, n: Needed, o: Origin2): Promise<Artifact[]> {
  const c = n.component
  const asset = await fetchAsset(ctx, c, o)
  const files = await extract(ctx, c, asset, o.expected)
  const entry: IndexEntry = { component: c.name, version: c.version, arch: ctx.arch, origin: o.origin, assetSha256: o.expected, verifiedBy: o.verifiedBy, files }
  await writeIndex(ctx.cache, entry)
  return toArtifacts(n, ctx.arch, o.origin, (f) => ({ path: blobPath(ctx.cache, files[f.name]!.sha256), ...files[f.name]! }))
}

function waysOut(): string {
  return [
    'three ways out:',
    '    1. a mirror: artifacts.source: mirror + artifacts.mirror: DIR or URL (COMPONENT/VERSION/ARCH/FILE + SHA256SUMS)',
    '    2. a bundle: `kubelab bundle -o FILE` on a connected machine, then artifacts.source: bundle + artifacts.bundle: FILE',
    '    3. a build: install Go (>= 1.25) with access to a Go module proxy, then `kubelab artifacts build`',
  ].join('\n')
}

// ---- the API ----------------------------------------------------------------------------------

export interface ResolveResult {
  readonly artifacts: Artifact[]
  /** What each source did (for the CLI's summary). */
  readonly fetched: number
  readonly builds: BuildOutcome[]
}

/**
 * Every file the config needs, verified and local. A warm cache answers from the index and the
 * build lock alone: no network request; each file's sha256 is checked against a digest kept by
 * file identity (dev, inode, size, mtime, ctime), so only a changed file is hashed again.
 */
export async function resolveArtifacts(config: ClusterConfig, options: ResolveOptions): Promise<Artifact[]> {
  return (await resolveDetailed(config, options)).artifacts
}

export async function resolveDetailed(config: ClusterConfig, options: ResolveOptions): Promise<ResolveResult> {
  const ctx = makeContext(config, options)
  const needed = neededComponents(config, ctx.lock)
  const done = new Map<string, Artifact[]>()
  for (const n of needed) {
    const hit = await lookupCached(ctx, n)
    if (hit) done.set(n.component.name, hit)
  }
  let missing = needed.filter((n) => !done.has(n.component.name))
  if (missing.length && options.readOnly) throw new NotMadeError(await wouldMake(ctx, missing))
  let fetched = 0
  let builds: BuildOutcome[] = []
  const source = config.artifacts.source

  if (missing.length && source === 'bundle') {
    await openBundle(path.resolve(path.dirname(config.file), config.artifacts.bundle!), { cache: ctx.cache, progress: ctx.progress })
    for (const n of missing) {
      const hit = await fromIndex(ctx, n, false)
      if (!hit) throw new ArtifactError(`the bundle ${config.artifacts.bundle} has no ${n.component.name} ${n.component.version} (${ctx.arch})`, { component: n.component.name }, { hint: 'make the bundle with the same config and arch: kubelab bundle -o FILE' })
      done.set(n.component.name, hit)
    }
    missing = []
  }

  if (missing.length && source === 'mirror') {
    const memo = new Map<string, Promise<Map<string, string>>>()
    for (const n of missing) {
      done.set(n.component.name, await fetchComponent(ctx, n, await expectedForMirror(ctx, n.component, memo)))
      fetched++
    }
    missing = []
  }

  if (missing.length && (source === 'download' || source === 'auto')) {
    const rest: Needed[] = []
    let unreachable: unknown
    for (const n of missing) {
      // Nothing to download (upstream ships images only): auto builds it; download says so.
      if (unreachable || (n.component.url === undefined && source === 'auto')) { rest.push(n); continue }
      try {
        done.set(n.component.name, await fetchComponent(ctx, n, await expectedForDownload(ctx, n.component)))
        fetched++
      } catch (err) {
        const cause = err instanceof ArtifactError ? err.cause : err
        if (source !== 'auto' || !isUnreachable(cause)) throw err
        unreachable = err
        rest.push(n)
      }
    }
    missing = rest
    if (unreachable && missing.length && source === 'auto') {
      ctx.progress.warn(`downloads unreachable (${(unreachable as Error).message.split('\n')[0]}); building from Go modules instead`)
      if (!(await findOnPath('go', ctx.env))) {
        throw new ArtifactError(`cannot get ${missing.map((n) => n.component.name).join(', ')}: downloads are unreachable and \`go\` is not installed`, {}, { hint: waysOut() })
      }
    }
  }

  if (missing.length && (source === 'build' || source === 'auto')) {
    builds = await ensureBuilt(buildTargets(missing), { cache: ctx.cache, arch: ctx.arch, progress: ctx.progress, env: ctx.env, ...(ctx.buildScript ? { script: ctx.buildScript } : {}) })
    for (const n of missing) {
      const hit = await fromBuild(ctx, n)
      if (!hit) throw new ArtifactError(`build of ${n.component.name} ${n.component.version} left no record`, { component: n.component.name })
      done.set(n.component.name, hit)
    }
  }

  return { artifacts: needed.flatMap((n) => done.get(n.component.name) ?? []), fetched, builds }
}

/** What getting `missing` would take with the config's source, with the last build's time where known. */
async function wouldMake(ctx: ArtifactContext, missing: readonly Needed[]): Promise<WouldMake[]> {
  const source = ctx.config.artifacts.source
  return Promise.all(buildTargetsOf(missing).map(async (t) => {
    const how: WouldMake['how'] = source === 'bundle' ? 'unpack the bundle' : source === 'mirror' ? 'fetch from the mirror'
      : source === 'download' ? 'download' : source === 'build' || t.buildOnly ? 'build' : 'download or build'
    return { what: `${t.build} ${t.version}`, how, ...(how.includes('build') ? { build: t.build, estimateMs: await lastBuildMs(ctx.cache, t.build) } : {}) }
  }))
}

/** The builds behind the missing components (kubelet and kubectl share one), and whether only a build can make them. */
function buildTargetsOf(missing: readonly Needed[]): { build: string; version: string; buildOnly: boolean }[] {
  return buildTargets(missing).map((t) => ({ build: t.build, version: t.version, buildOnly: missing.some((n) => n.component.url === undefined && n.component.build === t.build) }))
}

/** For `artifacts list`: per needed file, where it is in the cache (or that it is missing). No network. */
export async function listArtifacts(config: ClusterConfig, options: ResolveOptions): Promise<{ needed: Needed[]; found: Map<string, Artifact[]>; ctx: ArtifactContext }> {
  const ctx = makeContext(config, options)
  const needed = neededComponents(config, ctx.lock)
  const found = new Map<string, Artifact[]>()
  for (const n of needed) {
    const hit = await lookupCached(ctx, n)
    if (hit) found.set(n.component.name, hit)
  }
  return { needed, found, ctx }
}
