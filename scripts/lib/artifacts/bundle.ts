// Bundles: one tar with everything a config needs, for machines without network.
//
//   kubelab-bundle.json                         the manifest (always the first entry)
//   files/COMPONENT/VERSION/ARCH/FILE           the files, byte-identical to the cache
//
// writeBundle() (bundle-write.ts) resolves the config (filling the cache as needed) and streams the
// files into the tar; openBundle() reads it back into the cache, verifying each file against the manifest while it
// streams, with no network. A file that fails verification is deleted and nothing of its component
// is indexed. The manifest is not signed: check the bundle's own sha256 out of band if it travels.

import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ArtifactError } from '../errors.ts'
import type { Progress } from '../log/progress.ts'
import {
  blobPath, commitBlob, readIndex, removeQuietly, sizeOf, tmpPath, writeIndex,
  type Artifact, type CachedFile, type IndexEntry, type Origin,
} from './cache.ts'
import type { Arch, NodeSelector } from './lock.ts'
import { readTar } from './tar.ts'
import { rememberDigest } from './verify.ts'

export const BUNDLE_MANIFEST = 'kubelab-bundle.json'

export interface BundleFile {
  readonly component: string
  readonly file: string
  readonly version: string
  readonly arch: Arch
  readonly sha256: string
  readonly size: number
  /** Where the file came from before it was bundled. */
  readonly origin: Origin
  /** sha256 of the upstream asset it was extracted from; null for built files. */
  readonly assetSha256: string | null
  readonly nodes: NodeSelector
  readonly install?: string
  /** Path inside the bundle. */
  readonly path: string
}

export interface BundleManifest {
  readonly schema: 1
  readonly kind: 'kubelab-bundle'
  readonly kubernetes: string
  readonly arch: Arch
  readonly files: readonly BundleFile[]
}

export function bundlePath(a: { component: string; version: string; arch: Arch; file: string }): string {
  return `files/${a.component}/${a.version}/${a.arch}/${a.file}`
}

export interface OpenBundleOptions {
  cache: string
  progress?: Progress
}

/**
 * Installs every file of a bundle into the cache (blobs + index, origin "bundle"), verifying each
 * against the manifest. Makes no network request. Returns the manifest's files with their cache paths.
 */
export async function openBundle(file: string, options: OpenBundleOptions): Promise<Artifact[]> {
  const { cache } = options
  if ((await sizeOf(file)) === undefined) throw new ArtifactError(`no bundle at ${file}`, {}, { hint: 'make one with `kubelab bundle -o FILE` on a machine that has the artifacts' })
  let manifest: BundleManifest | undefined
  const byPath = new Map<string, BundleFile>()
  const seen = new Set<string>()
  await mkdir(path.join(cache, 'tmp'), { recursive: true })
  try {
    await readTar(createReadStream(file), async (h, content) => {
      if (!manifest) {
        if (h.name !== BUNDLE_MANIFEST) throw new ArtifactError(`${file} is not a kubelab bundle: it does not start with ${BUNDLE_MANIFEST}`)
        const chunks: Buffer[] = []
        for await (const c of content) chunks.push(c)
        manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as BundleManifest
        if (manifest.kind !== 'kubelab-bundle' || manifest.schema !== 1) throw new ArtifactError(`${file}: unknown bundle format`)
        for (const f of manifest.files) byPath.set(f.path, f)
        return
      }
      if (h.type !== 'file') return
      const f = byPath.get(h.name)
      if (!f) throw new ArtifactError(`${file}: ${h.name} is not in the bundle manifest`)
      const tmp = tmpPath(cache, f.file)
      const hash = createHash('sha256')
      let size = 0
      await pipeline(content, new Transform({ transform(chunk: Buffer, _e, cb) { hash.update(chunk); size += chunk.length; cb(null, chunk) } }), createWriteStream(tmp))
      const actual = hash.digest('hex')
      if (actual !== f.sha256 || size !== f.size) {
        await removeQuietly(tmp)
        throw new ArtifactError(`sha256 mismatch for ${h.name} in the bundle ${file}; nothing from it was installed\n  expected ${f.sha256}\n  actual   ${actual}`, {
          component: f.component, file: f.file, expected: f.sha256, actual,
        }, { hint: 'the bundle is damaged or was modified after `kubelab bundle` wrote it' })
      }
      await rememberDigest(cache, await commitBlob(cache, tmp, actual), actual)
      seen.add(h.name)
    })
  } catch (err) {
    if (err instanceof ArtifactError) throw err
    throw new ArtifactError(`cannot read the bundle ${file}: ${(err as Error).message}`, {}, { cause: err })
  }
  if (!manifest) throw new ArtifactError(`${file} is empty`)
  const absent = manifest.files.filter((f) => !seen.has(f.path))
  if (absent.length) throw new ArtifactError(`${file} is incomplete: ${absent.map((f) => f.path).join(', ')} missing`)
  // Index per component, after every file verified.
  const groups = new Map<string, BundleFile[]>()
  for (const f of manifest.files) {
    const k = `${f.arch}/${f.component}/${f.version}`
    groups.set(k, [...(groups.get(k) ?? []), f])
  }
  for (const fs of groups.values()) {
    const first = fs[0]!
    const existing = await readIndex(cache, first.arch, first.component, first.version)
    const files: Record<string, CachedFile> = { ...(existing?.files ?? {}) }
    for (const f of fs) files[f.file] = { sha256: f.sha256, size: f.size }
    const entry: IndexEntry = {
      component: first.component, version: first.version, arch: first.arch, origin: 'bundle',
      assetSha256: first.assetSha256, verifiedBy: 'bundle-manifest', files,
    }
    await writeIndex(cache, entry)
  }
  options.progress?.debug(1, `installed ${manifest.files.length} files from ${file}`)
  return manifest.files.map((f) => ({
    component: f.component, file: f.file, version: f.version, arch: f.arch, path: blobPath(cache, f.sha256),
    sha256: f.sha256, size: f.size, origin: 'bundle' as const, nodes: f.nodes, ...(f.install ? { install: f.install } : {}),
  }))
}
