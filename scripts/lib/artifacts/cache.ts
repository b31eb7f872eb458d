// The host cache (KUBELAB_CACHE, default ~/.cache/kubelab):
//
//   blobs/sha256/HEX                       verified content: upstream assets and the files in them
//   index/ARCH/COMPONENT-VERSION.json      which blobs are the files of a component (downloads,
//                                          mirror, bundle), and how their asset was verified
//   build/BUILD-VERSION-ARCH/              build.sh output (binaries built from Go modules)
//   build.lock.json                        the local lock of builds: sha256, size, --version output
//   verified/KEY.json                      a file's sha256 kept by its identity (verify.ts)
//   tmp/                                   partial downloads (resumable) and staging files
//   parsed/HEX.json                        large YAML texts parsed once (host/parsed-yaml.ts)
//
// Every write is atomic (temp file + rename), so an interrupted run leaves nothing that looks done.

import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, mkdir, readFile, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { writeJsonFile } from '../host/files.ts'
import { withFileLock } from '../providers/common/lock.ts'
import type { Arch, NodeSelector } from './lock.ts'

export { cacheDir } from '../host/cache-dir.ts'

export function blobPath(cache: string, sha256: string): string {
  return path.join(cache, 'blobs', 'sha256', sha256)
}

export function tmpPath(cache: string, hint: string): string {
  return path.join(cache, 'tmp', `${hint}.${randomBytes(6).toString('hex')}`)
}

export async function sha256File(file: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return { sha256: h.digest('hex'), size }
}

export async function sizeOf(file: string): Promise<number | undefined> {
  try {
    const s = await stat(file)
    return s.isFile() ? s.size : undefined
  } catch {
    return undefined
  }
}

/** Moves a verified temp file into the blob store (atomic; an existing blob is kept). */
export async function commitBlob(cache: string, tmp: string, sha256: string, mode = 0o755): Promise<string> {
  const dest = blobPath(cache, sha256)
  await mkdir(path.dirname(dest), { recursive: true })
  await chmod(tmp, mode)
  await rename(tmp, dest)
  return dest
}

export async function writeJsonAtomic(file: string, data: unknown): Promise<void> {
  writeJsonFile(file, data, { mode: 0o644 })
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T
  } catch {
    return undefined
  }
}

export type Origin = 'download' | 'mirror' | 'bundle' | 'build'

export interface CachedFile {
  readonly sha256: string
  readonly size: number
}

/** What the cache knows about one component's files for one arch (downloads, mirror, bundle). */
export interface IndexEntry {
  readonly component: string
  readonly version: string
  readonly arch: Arch
  readonly origin: Exclude<Origin, 'build'>
  /** sha256 of the upstream asset the files came from; null for built files installed from a bundle. */
  readonly assetSha256: string | null
  /** How the asset was checked: against the lock pin, or only against upstream's/mirror's checksum file. */
  readonly verifiedBy: 'lock' | 'upstream-checksum' | 'mirror-manifest' | 'bundle-manifest'
  readonly files: Readonly<Record<string, CachedFile>>
}

export function indexPath(cache: string, arch: Arch, component: string, version: string): string {
  return path.join(cache, 'index', arch, `${component}-${version}.json`)
}

export function readIndex(cache: string, arch: Arch, component: string, version: string): Promise<IndexEntry | undefined> {
  return readJson<IndexEntry>(indexPath(cache, arch, component, version))
}

export function writeIndex(cache: string, entry: IndexEntry): Promise<void> {
  return writeJsonAtomic(indexPath(cache, entry.arch, entry.component, entry.version), entry)
}

// ---- the local build lock --------------------------------------------------------------------

export interface BuiltFile extends CachedFile {
  /** First line of the binary's version output; null when it cannot run here (other arch). */
  readonly versionOutput: string | null
}

export interface BuildRecord {
  readonly build: string
  readonly version: string
  readonly arch: Arch
  /** ISO time the record was written. */
  readonly recordedAt: string
  /** How long build.sh took; null when the output was already there (built by an earlier run). */
  readonly durationMs: number | null
  readonly goVersion: string | null
  readonly files: Readonly<Record<string, BuiltFile>>
}

export interface BuildLock {
  readonly schema: 1
  readonly builds: Readonly<Record<string, BuildRecord>>
}

export function buildKey(build: string, version: string, arch: Arch): string {
  return `${build}-${version}-${arch}`
}

export function buildDir(cache: string, build: string, version: string, arch: Arch): string {
  return path.join(cache, 'build', buildKey(build, version, arch))
}

export function buildLockPath(cache: string): string {
  return path.join(cache, 'build.lock.json')
}

export async function readBuildLock(cache: string): Promise<BuildLock> {
  return (await readJson<BuildLock>(buildLockPath(cache))) ?? { schema: 1, builds: {} }
}

/** Adds or replaces one record (read-modify-write under a file lock: builds of other entries in other processes keep theirs). */
export async function recordBuild(cache: string, record: BuildRecord): Promise<void> {
  await withFileLock(`${buildLockPath(cache)}.lock`, { wait: true, what: 'recording a build', timeoutMs: 60_000 }, async () => {
    const lock = await readBuildLock(cache)
    const builds = { ...lock.builds, [buildKey(record.build, record.version, record.arch)]: record }
    const sorted = Object.fromEntries(Object.entries(builds).sort(([a], [b]) => a.localeCompare(b)))
    await writeJsonAtomic(buildLockPath(cache), { schema: 1, builds: sorted })
  })
}

export async function removeQuietly(file: string): Promise<void> {
  await rm(file, { force: true, recursive: true })
}

/** A file the config needs, resolved: where it is in this cache and where it goes on nodes. */
export interface Artifact {
  readonly component: string
  readonly file: string
  readonly version: string
  readonly arch: Arch
  readonly path: string
  readonly sha256: string
  readonly size: number
  readonly origin: Origin
  readonly nodes: NodeSelector
  /** Directory on the node; absent for files packed into images. */
  readonly install?: string
}
