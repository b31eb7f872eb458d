// An OCI image-layout tarball for nodes without a registry (`ctr -n k8s.io images import FILE`):
//
//   oci-layout  index.json  blobs/sha256/{layer, config, manifest}
//
// One uncompressed layer (so its digest is also its diff_id), deterministic: entries sorted, parent
// directories added, uid/gid 0, mtime 0. The manifest descriptor in index.json carries
// `io.containerd.image.name` = the full reference, which containerd's importer uses as the image
// name (and `org.opencontainers.image.ref.name` = the tag). Recipe: shared notes §5.3.

import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { tarStream, type TarEntry } from './tar.ts'
import type { Arch } from './lock.ts'
import { tempPathFor } from '../host/files.ts'

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const

export interface ImageFile {
  /** Path in the image, e.g. `/coredns` or `etc/coredns/Corefile`. */
  path: string
  content?: Buffer | string
  /** A local file to copy (streamed). */
  source?: string
  /** Makes the path a symlink to this target (e.g. `busybox` for `bin/sh`); no content. */
  symlink?: string
  /** Makes the path a directory (with `mode`, e.g. 0o1777 for `tmp`), also when nothing is in it. */
  dir?: true
  mode?: number
}

export interface OciImageSpec {
  /** Full reference, e.g. registry.k8s.io/pause:3.10.1 */
  ref: string
  files: ImageFile[]
  entrypoint: string[]
  cmd?: string[]
  /** e.g. 65535:65535 */
  user?: string
  /** The environment, `NAME=value`; default a standard PATH. */
  env?: string[]
  /** The process's working directory (default `/`). */
  workingDir?: string
  arch?: Arch
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
}

export interface OciImageResult {
  manifest: Descriptor
  config: Descriptor
  layer: Descriptor
  /** The layer's uncompressed digest, the same as layer.digest here. */
  diffId: string
}

function clean(p: string): string {
  const parts = p.split('/').filter((x) => x && x !== '.')
  if (parts.some((x) => x === '..')) throw new Error(`image path may not contain "..": ${p}`)
  return parts.join('/')
}

/** The layer's entries: files plus every parent directory, sorted by path. */
export function layerEntries(files: readonly ImageFile[]): TarEntry[] {
  const entries = new Map<string, TarEntry>()
  const implicit = new Set<string>() // parent directories added here, which an explicit `dir` entry may still give a mode
  for (const f of files) {
    const name = clean(f.path)
    const parts = name.split('/')
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/')
      if (!entries.has(dir)) {
        entries.set(dir, { name: `${dir}/`, type: 'dir', mode: 0o755, mtime: 0 })
        implicit.add(dir)
      }
    }
    if (f.dir) {
      if (entries.has(name) && !implicit.has(name)) throw new Error(`duplicate image path ${f.path}`)
      entries.set(name, { name: `${name}/`, type: 'dir', mode: f.mode ?? 0o755, mtime: 0 })
      implicit.delete(name)
      continue
    }
    if (entries.has(name)) throw new Error(`duplicate image path ${f.path}`)
    if (f.symlink !== undefined) {
      entries.set(name, { name, type: 'symlink', linkname: f.symlink, mode: 0o777, mtime: 0 })
      continue
    }
    const content = typeof f.content === 'string' ? Buffer.from(f.content) : f.content
    entries.set(name, {
      name, type: 'file', mode: f.mode ?? 0o755, mtime: 0,
      ...(content !== undefined ? { content } : f.source !== undefined ? { source: f.source } : { content: Buffer.alloc(0) }),
    })
  }
  return [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e)
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

function json(data: unknown): Buffer {
  return Buffer.from(JSON.stringify(data))
}

/** Writes the image as an OCI layout tar to `outTar` (atomically) and returns its descriptors. */
export async function writeOciImage(spec: OciImageSpec, outTar: string): Promise<OciImageResult> {
  const arch = spec.arch ?? 'amd64'
  const work = await mkdtemp(path.join(os.tmpdir(), 'kubelab-oci-'))
  try {
    // The layer, hashed while written.
    const layerFile = path.join(work, 'layer.tar')
    const h = createHash('sha256')
    let layerSize = 0
    await pipeline(
      tarStream(layerEntries(spec.files)),
      new Transform({ transform(c: Buffer, _e, cb) { h.update(c); layerSize += c.length; cb(null, c) } }),
      createWriteStream(layerFile),
    )
    const layerHex = h.digest('hex')
    const layer: Descriptor = { mediaType: MEDIA.layer, digest: `sha256:${layerHex}`, size: layerSize }

    const configJson = json({
      architecture: arch,
      os: 'linux',
      config: {
        Entrypoint: spec.entrypoint,
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        ...(spec.user ? { User: spec.user } : {}),
        Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
      },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
      history: [{ created_by: 'kubelab writeOciImage' }],
    })
    const config: Descriptor = { mediaType: MEDIA.config, digest: `sha256:${sha(configJson)}`, size: configJson.length }
    const manifestJson = json({ schemaVersion: 2, mediaType: MEDIA.manifest, config, layers: [layer] })
    const manifest: Descriptor = { mediaType: MEDIA.manifest, digest: `sha256:${sha(manifestJson)}`, size: manifestJson.length }
    const tag = spec.ref.includes('@') ? spec.ref.split('@')[1]! : (spec.ref.match(/:([^/:]+)$/)?.[1] ?? 'latest')
    const indexJson = json({
      schemaVersion: 2,
      mediaType: MEDIA.index,
      manifests: [{
        ...manifest,
        platform: { architecture: arch, os: 'linux' },
        annotations: { 'io.containerd.image.name': spec.ref, 'org.opencontainers.image.ref.name': tag },
      }],
    })
    const blobs: [string, TarEntry][] = [
      [layerHex, { name: `blobs/sha256/${layerHex}`, source: layerFile }],
      [sha(configJson), { name: `blobs/sha256/${sha(configJson)}`, content: configJson }],
      [sha(manifestJson), { name: `blobs/sha256/${sha(manifestJson)}`, content: manifestJson }],
    ]
    blobs.sort(([a], [b]) => (a < b ? -1 : 1))
    const entries: TarEntry[] = [
      { name: 'blobs/', type: 'dir' },
      { name: 'blobs/sha256/', type: 'dir' },
      ...blobs.map(([, e]) => ({ ...e, mode: 0o644 })),
      { name: 'index.json', content: indexJson },
      { name: 'oci-layout', content: json({ imageLayoutVersion: '1.0.0' }) },
    ]
    await mkdir(path.dirname(path.resolve(outTar)), { recursive: true })
    const tmp = tempPathFor(path.resolve(outTar)) // concurrent writers of one image never share it
    try {
      await pipeline(tarStream(entries), createWriteStream(tmp))
      await rename(tmp, outTar)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
    return { manifest, config, layer, diffId: layer.digest }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
