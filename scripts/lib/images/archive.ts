// Image archives as `kubelab image load` takes them: read, inspected and pinned to one platform.
//
//   docker save (legacy):   manifest.json  repositories  <id>/layer.tar  <config>.json
//   docker save (25+):      the same manifest.json beside an OCI layout (oci-layout, index.json, blobs/)
//   OCI image layout:       oci-layout  index.json  blobs/sha256/<hex>
//
// plain or gzipped. `readArchive` unpacks it once into a temporary directory (every blob hashed on
// the way) and refuses what is not an image, naming the file and why. `pinArchive` keeps, for each
// named image, the one manifest of linux/ARCH (a multi-platform index resolved, its other platforms
// dropped) and checks that manifest, its config and every layer are there; `writePinned` writes
// that as a fresh OCI layout tar (index.json naming each image by `io.containerd.image.name`), so
// what containerd imports is always a complete single-platform image at a known manifest digest.

import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { readTar, tarStream, type TarEntry } from '../artifacts/tar.ts'
import { UsageError } from '../errors.ts'

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const

const INDEX_TYPES: readonly string[] = [MEDIA.ociIndex, MEDIA.dockerList]
const MANIFEST_TYPES: readonly string[] = [MEDIA.ociManifest, MEDIA.dockerManifest]

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { os?: string; architecture?: string; variant?: string }
  annotations?: Record<string, string>
}

interface Member {
  /** Where its content was unpacked (files), or the target (symlinks, resolved inside the archive). */
  file?: string
  link?: string
  size: number
  sha256: string
}

export type ArchiveFormat = 'docker' | 'oci'

/** One image an archive names, before pinning: its references and where its manifest (or index) is. */
export interface NamedImage {
  refs: string[]
  /** OCI: the index.json descriptor (a manifest or an index). Docker legacy: undefined (see `docker`). */
  descriptor?: Descriptor
  /** Docker legacy: the manifest.json entry's config and layers (paths inside the archive). */
  docker?: { config: string; layers: string[] }
}

export interface Archive {
  /** The file as the user named it (for messages). */
  file: string
  format: ArchiveFormat
  images: NamedImage[]
  /** The temporary directory it was unpacked to; `closeArchive` removes it. */
  dir: string
  members: ReadonlyMap<string, Member>
}

/** One image pinned to a platform: the manifest containerd will hold, at its digest. */
export interface PinnedImage {
  refs: string[]
  manifest: Descriptor
  /** The manifest's bytes (written as its blob). */
  manifestBytes: Buffer
  /** Every blob the manifest needs (config and layers): digest -> member name in the archive. */
  blobs: Map<string, string>
  /** Config + layers + manifest, bytes. */
  size: number
}

const refuse = (file: string, why: string, hint?: string) =>
  new UsageError(`${file}: ${why}`, { hint: hint ?? 'kubelab image load takes `docker save` / `podman save` archives and OCI image layouts (tar or tar.gz)' })

/** Docker's reference normalisation (what kubelet and CRI compare): `app:1` -> `docker.io/library/app:1`. */
export function normalizeRef(ref: string): string {
  let name = ref
  const slash = name.indexOf('/')
  const first = slash === -1 ? '' : name.slice(0, slash)
  if (slash === -1) name = `docker.io/library/${name}`
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') name = `docker.io/${name}`
  if (name.startsWith('docker.io/') && !name.slice('docker.io/'.length).includes('/')) name = name.replace('docker.io/', 'docker.io/library/')
  const lastPart = name.slice(name.lastIndexOf('/') + 1)
  if (!lastPart.includes(':') && !name.includes('@')) name = `${name}:latest`
  return name
}

/** Whether a name is a full reference (not a bare tag like `latest` an OCI layout may carry). */
function fullRef(name: string): boolean {
  return name.includes('/') || name.includes(':')
}

function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

/**
 * Unpacks `file` into a temporary directory and names the images in it. Refuses (UsageError) a
 * file that is not a tar, a tar that is no image archive, and an archive that names no image.
 * `name` is the reference to use when the archive carries only a bare tag (an image saved by ref).
 */
export async function readArchive(file: string, display = file, name?: string): Promise<Archive> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubelab-image-'))
  const members = new Map<string, Member>()
  try {
    let n = 0
    try {
      await readTar(createReadStream(file), async (h, content) => {
        const name = h.name.replace(/\/+$/, '')
        if (h.type === 'symlink') {
          members.set(name, { link: path.posix.normalize(path.posix.join(path.posix.dirname(name), h.linkname)), size: 0, sha256: '' })
          return
        }
        if (h.type !== 'file') return
        const out = path.join(dir, String(n++))
        const hash = createHash('sha256')
        await pipeline(content, async function* (src: AsyncIterable<Buffer>) {
          for await (const chunk of src) {
            hash.update(chunk)
            yield chunk
          }
        }, createWriteStream(out))
        members.set(name, { file: out, size: h.size, sha256: hash.digest('hex') })
      })
    } catch (err) {
      const msg = (err as Error).message
      if (/ENOENT|EISDIR|EACCES/.test((err as NodeJS.ErrnoException).code ?? '')) throw refuse(display, `cannot read it (${msg})`)
      throw refuse(display, `not a tar or gzipped tar (${msg.replace(/^tar: /, '').replace(/ \(.*\)$/, '')})`)
    }
    const archive: Archive = { file: display, format: 'oci', images: [], dir, members }
    const index = await jsonOf<{ manifests?: Descriptor[] }>(archive, 'index.json')
    const manifest = await jsonOf<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>(archive, 'manifest.json')
    if (index === undefined && manifest === undefined) throw refuse(display, 'a tar without manifest.json or index.json (not a docker save or OCI image layout archive)')
    if (index !== undefined) {
      if (!Array.isArray(index.manifests)) throw refuse(display, 'index.json has no manifests list')
      // docker 25+ writes both: the OCI index is the truth, manifest.json only lends the names.
      const dockerTags = new Map((manifest ?? []).map((m) => [m.Config, m.RepoTags ?? []]))
      const byDigest = new Map<string, NamedImage>()
      for (const d of index.manifests) {
        if (!d || typeof d.digest !== 'string') throw refuse(display, 'index.json lists a manifest without a digest')
        const refName = d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name']
        const refs: string[] = []
        if (refName && fullRef(refName)) refs.push(normalizeRef(refName))
        else if (refName && name) refs.push(normalizeRef(name))
        const hex = d.digest.replace(/^sha256:/, '')
        for (const tag of dockerTags.get(`blobs/sha256/${hex}`) ?? []) refs.push(normalizeRef(tag))
        // docker 25+: manifest.json's Config is the config blob, not the manifest; match through the manifest.
        if (MANIFEST_TYPES.includes(d.mediaType)) {
          const m = await blobJson<{ config?: Descriptor }>(archive, d.digest)
          const cfg = m?.config?.digest.replace(/^sha256:/, '')
          if (cfg) for (const tag of dockerTags.get(`blobs/sha256/${cfg}`) ?? []) refs.push(normalizeRef(tag))
        }
        const had = byDigest.get(d.digest)
        if (had) had.refs.push(...refs)
        else byDigest.set(d.digest, { refs, descriptor: d })
      }
      archive.images = [...byDigest.values()].map((i) => ({ ...i, refs: [...new Set(i.refs)] }))
    } else {
      archive.format = 'docker'
      if (!Array.isArray(manifest)) throw refuse(display, 'manifest.json is not a list of images')
      archive.images = manifest.map((m) => ({
        refs: [...new Set((m.RepoTags ?? []).map(normalizeRef))],
        docker: { config: m.Config, layers: m.Layers ?? [] },
      }))
    }
    if (archive.images.length === 0) throw refuse(display, 'the archive holds no image')
    if (name) for (const i of archive.images) if (i.refs.length === 0) i.refs.push(normalizeRef(name))
    const unnamed = archive.images.find((i) => i.refs.length === 0)
    if (unnamed) throw refuse(display, `an image in it has no name (${unnamed.descriptor?.digest ?? unnamed.docker?.config})`, 'save it by name: docker save -o app.tar app:1')
    return archive
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

export async function closeArchive(a: Archive): Promise<void> {
  await rm(a.dir, { recursive: true, force: true })
}

/** The member `name` after following symlinks inside the archive. */
function member(a: Archive, name: string): Member | undefined {
  let m = a.members.get(name.replace(/^(\.\/)+/, ''))
  for (let i = 0; m?.link !== undefined && i < 16; i++) m = a.members.get(m.link)
  return m?.file ? m : undefined
}

async function jsonOf<T>(a: Archive, name: string): Promise<T | undefined> {
  const m = member(a, name)
  if (!m) return undefined
  try {
    return JSON.parse(await readFile(m.file!, 'utf8')) as T
  } catch {
    throw refuse(a.file, `${name} is not valid JSON`)
  }
}

function blobName(digest: string): string {
  return `blobs/${digest.replace(':', '/')}`
}

/** A blob by digest, verified: undefined when the archive does not have it. */
function blob(a: Archive, digest: string): Member | undefined {
  const m = member(a, blobName(digest))
  if (!m) return undefined
  if (digest.startsWith('sha256:') && m.sha256 !== digest.slice(7)) throw refuse(a.file, `blob ${digest} does not match its digest (sha256:${m.sha256}): the archive is corrupt`)
  return m
}

async function blobJson<T>(a: Archive, digest: string): Promise<T | undefined> {
  const m = blob(a, digest)
  return m ? JSON.parse(await readFile(m.file!, 'utf8')) as T : undefined
}

/** `linux/amd64` of a platform (variant kept). */
function platformName(p: Descriptor['platform']): string {
  return `${p?.os ?? '?'}/${p?.architecture ?? '?'}${p?.variant ? `/${p.variant}` : ''}`
}

/** Pins every image of the archive to linux/`arch` (amd64, arm64): one complete manifest each. */
export async function pinArchive(a: Archive, arch: string): Promise<PinnedImage[]> {
  const out: PinnedImage[] = []
  for (const image of a.images) out.push(await pinImage(a, image, arch))
  return out
}

async function pinImage(a: Archive, image: NamedImage, arch: string): Promise<PinnedImage> {
  const name = image.refs[0]!
  if (image.docker) return pinDocker(a, image, arch)
  let d = image.descriptor!
  // An index (multi-platform): take linux/ARCH; nested indexes are followed.
  for (let depth = 0; INDEX_TYPES.includes(d.mediaType) || (d.mediaType === undefined && depth === 0); depth++) {
    if (depth > 4) throw refuse(a.file, `${name}: indexes nested too deep`)
    const idx = await blobJson<{ mediaType?: string; manifests?: Descriptor[] }>(a, d.digest)
    if (!idx) throw refuse(a.file, `${name}: its index ${d.digest} is not in the archive`)
    if (!Array.isArray(idx.manifests)) {
      if (d.mediaType === undefined) { d = { ...d, mediaType: MEDIA.ociManifest }; break }
      throw refuse(a.file, `${name}: index ${d.digest} lists no manifests`)
    }
    const matches = idx.manifests.filter((m) => m.platform?.os === 'linux' && m.platform.architecture === arch
      && (arch !== 'arm64' || !m.platform.variant || m.platform.variant === 'v8'))
    if (matches.length === 0) {
      const has = idx.manifests.filter((m) => m.platform).map((m) => platformName(m.platform))
      throw refuse(a.file, `${name} has no linux/${arch} image (it has: ${has.join(', ') || 'no platforms'})`, `the nodes are linux/${arch}: save the image for that platform (docker save --platform linux/${arch})`)
    }
    // The first complete one (docker's index also lists attestation manifests, platform unknown/unknown).
    const complete = matches.find((m) => blob(a, m.digest)) ?? matches[0]!
    d = { ...complete, ...(d.annotations ? { annotations: d.annotations } : {}) }
  }
  if (!MANIFEST_TYPES.includes(d.mediaType)) throw refuse(a.file, `${name}: ${d.digest} is a ${d.mediaType}, not an image manifest`)
  const mb = blob(a, d.digest)
  if (!mb) throw refuse(a.file, `${name}: the linux/${arch} manifest ${d.digest} is not in the archive (only its index is)`, `save the image with its linux/${arch} content, or use an archive of that platform only`)
  const manifestBytes = await readFile(mb.file!)
  const m = JSON.parse(manifestBytes.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[] }
  if (!m.config || !Array.isArray(m.layers)) throw refuse(a.file, `${name}: manifest ${d.digest} has no config or layers`)
  const blobs = new Map<string, string>()
  let size = manifestBytes.length
  for (const part of [m.config, ...m.layers]) {
    if (!blob(a, part.digest)) throw refuse(a.file, `${name}: linux/${arch} is incomplete, blob ${part.digest} is missing`, 'a partial archive: save the image again, for this platform')
    blobs.set(part.digest, blobName(part.digest))
    size += part.size
  }
  await checkArch(a, name, m.config.digest, arch)
  return { refs: image.refs, manifest: { mediaType: d.mediaType, digest: d.digest, size: manifestBytes.length }, manifestBytes, blobs, size }
}

/** A single-platform image must be of the nodes' architecture. */
async function checkArch(a: Archive, name: string, configDigest: string, arch: string): Promise<void> {
  const cfg = await blobJson<{ architecture?: string; os?: string }>(a, configDigest).catch(() => undefined)
  if (cfg?.architecture && cfg.architecture !== arch) {
    throw refuse(a.file, `${name} is ${cfg.os ?? 'linux'}/${cfg.architecture}, the nodes are linux/${arch}`, `save the image for linux/${arch}`)
  }
}

/** Legacy docker save: an OCI manifest written for its config and layers (digests computed while unpacking). */
async function pinDocker(a: Archive, image: NamedImage, arch: string): Promise<PinnedImage> {
  const name = image.refs[0]!
  const { config, layers } = image.docker!
  const cfg = member(a, config)
  if (!cfg) throw refuse(a.file, `${name}: its config ${config} is not in the archive`)
  const blobs = new Map<string, string>([[`sha256:${cfg.sha256}`, config]])
  const layerDescs: Descriptor[] = []
  for (const l of layers) {
    const m = member(a, l)
    if (!m) throw refuse(a.file, `${name}: layer ${l} is not in the archive`)
    const head = Buffer.alloc(2)
    const fh = await open(m.file!)
    try { await fh.read(head, 0, 2, 0) } finally { await fh.close() }
    const gz = head[0] === 0x1f && head[1] === 0x8b
    layerDescs.push({ mediaType: gz ? MEDIA.ociLayerGzip : MEDIA.ociLayer, digest: `sha256:${m.sha256}`, size: m.size })
    blobs.set(`sha256:${m.sha256}`, l)
  }
  const manifestBytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: `sha256:${cfg.sha256}`, size: cfg.size },
    layers: layerDescs,
  }))
  const digest = `sha256:${sha256Hex(manifestBytes)}`
  const c = JSON.parse(await readFile(cfg.file!, 'utf8')) as { architecture?: string; os?: string }
  if (c.architecture && c.architecture !== arch) throw refuse(a.file, `${name} is ${c.os ?? 'linux'}/${c.architecture}, the nodes are linux/${arch}`, `save the image for linux/${arch}`)
  return {
    refs: image.refs,
    manifest: { mediaType: MEDIA.ociManifest, digest, size: manifestBytes.length },
    manifestBytes,
    blobs,
    size: manifestBytes.length + cfg.size + layerDescs.reduce((s, l) => s + l.size, 0),
  }
}

/** Writes the pinned images as one OCI layout tar: oci-layout, index.json (one entry per ref), the blobs. */
export async function writePinned(a: Archive, images: readonly PinnedImage[], out: string): Promise<void> {
  const entries: TarEntry[] = [
    { name: 'oci-layout', content: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    {
      name: 'index.json',
      content: Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociIndex,
        manifests: images.flatMap((i) => i.refs.map((ref) => ({
          ...i.manifest,
          annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref.slice(ref.lastIndexOf(':') + 1) },
        }))),
      })),
    },
    { name: 'blobs/', type: 'dir' },
    { name: 'blobs/sha256/', type: 'dir' },
  ]
  const seen = new Set<string>()
  for (const i of images) {
    if (!seen.has(i.manifest.digest)) entries.push({ name: blobName(i.manifest.digest), content: i.manifestBytes })
    seen.add(i.manifest.digest)
    for (const [digest, name] of i.blobs) {
      if (seen.has(digest)) continue
      seen.add(digest)
      entries.push({ name: blobName(digest), source: member(a, name)!.file! })
    }
  }
  await pipeline(tarStream(entries), createWriteStream(out))
}

/** The node architecture name of `uname -m`. */
export function archOf(machine: string): string {
  const m = machine.trim()
  return m === 'x86_64' ? 'amd64' : m === 'aarch64' ? 'arm64' : m.startsWith('armv7') ? 'arm' : m
}
