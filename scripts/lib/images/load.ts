// `kubelab image load` and `image ls` on the nodes: what each node's containerd holds in the k8s.io
// namespace (`ctr images ls`), and every archive imported where an image is missing at its digest.
// Per node one probe (architecture + image list), then per archive the pinned OCI tar (one per
// architecture, archive.ts) uploaded, imported with `--platform linux/ARCH` and removed; nodes in
// parallel, one progress line per image.

import { mkdtemp, rm, stat } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { UsageError } from '../errors.ts'
import { host } from '../host/exec.ts'
import type { Progress } from '../log/progress.ts'
import { CTR, IMAGES_DIR } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'
import type { Runner } from '../remote/types.ts'
import { archOf, closeArchive, pinArchive, readArchive, writePinned, type Archive, type PinnedImage } from './archive.ts'

/** One line of `ctr -n k8s.io images ls`. */
export interface NodeImage {
  ref: string
  digest: string
  /** As ctr prints it: `1.2 MiB`. */
  size: string
  platforms: string
}

/** Parses `ctr images ls` (REF TYPE DIGEST SIZE PLATFORMS LABELS); CRI's `sha256:<id>` aliases left out. */
export function parseCtrImages(text: string): NodeImage[] {
  const out: NodeImage[] = []
  for (const line of text.split('\n').slice(1)) {
    const m = /^(\S+)\s+(\S+)\s+(sha256:[0-9a-f]{64})\s+(\d[\d.]*\s*[KMGTP]?i?B)\s+(\S+)/.exec(line.trim())
    if (!m || m[1]!.startsWith('sha256:')) continue
    out.push({ ref: m[1]!, digest: m[3]!, size: m[4]!, platforms: m[5]! })
  }
  return out
}

interface Probe {
  arch: string
  images: NodeImage[]
}

/** One round trip: the node's architecture and what its containerd holds. */
async function probe(runner: Runner): Promise<Probe> {
  const r = await runner.$`uname -m; echo ---; ${CTR} -n k8s.io images ls`
  const [arch, list] = r.stdout.split('\n---\n')
  return { arch: archOf(arch ?? ''), images: parseCtrImages(list ?? '') }
}

export async function listNodeImages(nodes: readonly NodeHandle[]): Promise<{ node: string; images: NodeImage[] }[]> {
  return Promise.all(nodes.map(async (n) => ({ node: n.spec.name, images: (await probe(n.runner)).images })))
}

/** An input of `image load`: the archive file, and the reference it was saved by (a REF argument). */
export interface ImageInput {
  file: string
  display: string
  ref?: string
  /** A temporary directory to remove afterwards (a REF saved by docker/podman/nerdctl). */
  temp?: string
}

/** The CLIs a REF is saved from, in this order. */
export const SAVE_TOOLS = ['docker', 'podman', 'nerdctl'] as const

/** A FILE as it is; a REF (no such file) saved by the first of docker, podman, nerdctl that has it. */
export async function resolveInput(arg: string, progress: Progress): Promise<ImageInput> {
  const st = await stat(arg).catch(() => undefined)
  if (st?.isFile()) return { file: arg, display: arg }
  if (st) throw new UsageError(`${arg}: not a file`, { hint: 'kubelab image load takes archive files or image references' })
  const tried: string[] = []
  const temp = await mkdtemp(path.join(os.tmpdir(), 'kubelab-save-'))
  for (const tool of SAVE_TOOLS) {
    const which = await host`command -v ${tool}`.catch(() => undefined)
    if (!which) {
      tried.push(`${tool}: not installed`)
      continue
    }
    const file = path.join(temp, 'image.tar')
    try {
      await progress.step(`Saving ${arg} with ${tool}`, () => host`${tool} save -o ${file} ${arg}`)
      return { file, display: `${arg} (${tool} save)`, ref: arg, temp }
    } catch (err) {
      const stderr = (err as { result?: { stderr?: string } }).result?.stderr?.trim().split('\n').pop() ?? (err as Error).message
      tried.push(`${tool}: ${stderr}`)
    }
  }
  await rm(temp, { recursive: true, force: true })
  throw new UsageError(`${arg}: no such file, and no local image of that name (looked with ${SAVE_TOOLS.join(', ')}: ${tried.join('; ')})`, {
    hint: 'give an archive (docker save -o app.tar REF) or a ref docker, podman or nerdctl on this host has',
  })
}

/** Every input read and checked before any node is touched: a non-image is refused here. */
export async function readInputs(inputs: readonly ImageInput[]): Promise<Archive[]> {
  const archives: Archive[] = []
  try {
    for (const i of inputs) archives.push(await readArchive(i.file, i.display, i.ref))
    return archives
  } catch (err) {
    await Promise.all(archives.map(closeArchive))
    throw err
  }
}

export interface ImageResult {
  ref: string
  digest: string
  imported: string[]
  skipped: string[]
  failed: { node: string; error: unknown }[]
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  return h.digest('hex')
}

/**
 * Imports every archive on every node that lacks one of its images at the pinned digest.
 * Pins (per architecture) before importing anything, so an archive without the nodes' platform
 * changes no node. Returns one result per image; failures are in the results, not thrown.
 */
export async function loadImages(o: { nodes: readonly NodeHandle[]; archives: readonly Archive[]; progress: Progress }): Promise<ImageResult[]> {
  const probes = new Map(await Promise.all(o.nodes.map(async (n) => [n.spec.name, await probe(n.runner)] as const)))
  const arches = [...new Set([...probes.values()].map((p) => p.arch))]
  const work = await mkdtemp(path.join(os.tmpdir(), 'kubelab-pinned-'))
  try {
    // Pin and write every (archive, arch) first: every refusal before the first import.
    const pinned = new Map<string, { images: PinnedImage[]; tar: string; sha256: string }>()
    for (const [ai, a] of o.archives.entries()) {
      for (const arch of arches) {
        const images = await pinArchive(a, arch)
        const tar = path.join(work, `${ai}-${arch}.tar`)
        await writePinned(a, images, tar)
        pinned.set(`${ai}/${arch}`, { images, tar, sha256: await sha256File(tar) })
      }
    }
    const results: ImageResult[] = []
    for (const [ai] of o.archives.entries()) {
      const started = Date.now()
      const perNode = await Promise.all(o.nodes.map(async (n) => {
        const p = probes.get(n.spec.name)!
        const pin = pinned.get(`${ai}/${p.arch}`)!
        const missing = pin.images.filter((i) => i.refs.some((ref) => !p.images.some((x) => x.ref === ref && x.digest === i.manifest.digest)))
        if (missing.length === 0) return { node: n.spec.name, pin, missing, error: undefined }
        try {
          const remote = `${IMAGES_DIR}/load-${pin.sha256.slice(0, 16)}.tar`
          await n.runner.upload(pin.tar, remote, pin.sha256)
          await n.runner.$`${CTR} -n k8s.io images import --local --platform ${`linux/${p.arch}`} ${remote} >/dev/null || { rc=$?; rm -f ${remote}; exit $rc; }; rm -f ${remote}`
          return { node: n.spec.name, pin, missing, error: undefined }
        } catch (error) {
          return { node: n.spec.name, pin, missing, error }
        }
      }))
      // One line per image (pinned images of the first node's arch give the names and digests).
      for (const [ii, image] of perNode[0]!.pin.images.entries()) {
        const r: ImageResult = { ref: image.refs.join(', '), digest: image.manifest.digest, imported: [], skipped: [], failed: [] }
        for (const n of perNode) {
          const mine = n.pin.images[ii]!
          if (n.error !== undefined && n.missing.includes(mine)) r.failed.push({ node: n.node, error: n.error })
          else if (n.missing.includes(mine)) r.imported.push(n.node)
          else r.skipped.push(n.node)
        }
        const parts = [`${o.nodes.length} node${o.nodes.length === 1 ? '' : 's'}`, `${r.imported.length} imported`, `${r.skipped.length} already had it`]
        if (r.failed.length) parts.push(`${r.failed.length} failed (${r.failed.map((f) => f.node).join(', ')})`)
        o.progress.stepLine(`${image.refs.join(', ')}  ${image.manifest.digest.slice(0, 19)}`, r.failed.length === 0, parts.join(', '), Date.now() - started)
        results.push(r)
      }
    }
    return results
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
