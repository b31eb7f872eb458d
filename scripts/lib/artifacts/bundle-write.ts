// writeBundle: resolves the config (filling the cache as needed) and streams its files into one tar
// with the manifest first (the layout and openBundle() are in bundle.ts). Apart from bundle.ts
// because resolving reads bundles too.

import { createWriteStream } from 'node:fs'
import { mkdir, rename } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import type { ClusterConfig } from '../config/types.ts'
import { ArtifactError } from '../errors.ts'
import { BUNDLE_MANIFEST, bundlePath, type BundleFile, type BundleManifest } from './bundle.ts'
import { cacheDir, readIndex, removeQuietly } from './cache.ts'
import { resolveArtifacts, type ResolveOptions } from './resolve.ts'
import { tarStream, type TarEntry } from './tar.ts'
import { tempPathFor } from '../host/files.ts'

/** Resolves the config and writes FILE (a .tar, or gzip-compressed when it ends in .gz/.tgz). */
export async function writeBundle(config: ClusterConfig, out: string, options: ResolveOptions): Promise<BundleManifest> {
  const cache = cacheDir(options.env ?? process.env)
  const artifacts = await resolveArtifacts(config, options)
  const arch = artifacts[0]?.arch ?? options.arch!
  const files: BundleFile[] = []
  for (const a of artifacts) {
    const entry = a.origin === 'build' ? undefined : await readIndex(cache, a.arch, a.component, a.version)
    files.push({
      component: a.component, file: a.file, version: a.version, arch: a.arch, sha256: a.sha256, size: a.size,
      origin: a.origin, assetSha256: entry?.assetSha256 ?? null, nodes: a.nodes,
      ...(a.install ? { install: a.install } : {}),
      path: bundlePath(a),
    })
  }
  const manifest: BundleManifest = { schema: 1, kind: 'kubelab-bundle', kubernetes: config.kubernetes.version, arch, files }
  const entries: TarEntry[] = [
    { name: BUNDLE_MANIFEST, content: Buffer.from(JSON.stringify(manifest, null, 2) + '\n') },
    ...artifacts.map((a): TarEntry => ({ name: bundlePath(a), source: a.path, mode: 0o755 })),
  ]
  await mkdir(path.dirname(path.resolve(out)), { recursive: true })
  const tmp = tempPathFor(path.resolve(out))
  const gz = /\.(gz|tgz)$/.test(out)
  try {
    if (gz) await pipeline(tarStream(entries), createGzip({ level: 6 }), createWriteStream(tmp))
    else await pipeline(tarStream(entries), createWriteStream(tmp))
  } catch (err) {
    await removeQuietly(tmp)
    throw new ArtifactError(`cannot write the bundle ${out}: ${(err as Error).message}`, {}, { cause: err })
  }
  await rename(tmp, out)
  return manifest
}
