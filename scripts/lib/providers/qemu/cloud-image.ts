// Official cloud images by URL + sha256 (provider.qemu.image): downloaded once with the artifact
// fetcher (streaming sha256, Range resume, retries) into the content-addressed cache
// (blobs/sha256/HEX), refused when the hash differs, reused with no request at all afterwards.
// Each VM then gets a qcow2 overlay over the verified blob, grown to a usable size; the image boots
// with its own bootloader and is configured by cloud-init from a NoCloud seed (nocloud.ts).

import { existsSync } from 'node:fs'
import path from 'node:path'
import { blobPath, commitBlob, removeQuietly, sizeOf } from '../../artifacts/cache.ts'
import { fetchToFile, HttpClient, progressBar } from '../../artifacts/fetch.ts'
import { ArtifactError } from '../../errors.ts'
import { host } from '../../host/exec.ts'
import type { Progress } from '../../log/progress.ts'
import { withFileLock } from '../common/lock.ts'

export interface CloudImageRef {
  readonly url: string
  readonly sha256: string
}

export type DiskFormat = 'qcow2' | 'raw'

export interface CloudImage {
  /** The verified blob in the cache (never written to: VMs use overlays). */
  readonly file: string
  readonly format: DiskFormat
  /** Size of the disk the image describes, in bytes. */
  readonly virtualSize: number
}

/** Every VM's disk is at least this big (a sparse qcow2 overlay: costs only what is written). */
export const MIN_DISK_BYTES = 20 * 1024 ** 3

/** The overlay size for an image: the image's own size when bigger, else MIN_DISK_BYTES. */
export function overlaySize(virtualSize: number): number {
  return Math.max(virtualSize, MIN_DISK_BYTES)
}

/** The mismatch error: names the URL, the expected and the actual sha256. */
export function sha256Mismatch(url: string, expected: string, actual: string): ArtifactError {
  return new ArtifactError(`cloud image ${url}: sha256 mismatch: expected ${expected}, got ${actual}`, { url, expected, actual }, {
    hint: 'provider.qemu.image.sha256 must be the published checksum of that exact file (images behind "latest" URLs change): nothing was started',
  })
}

/** What `qemu-img info --output=json` says that matters here; refuses anything but a plain qcow2/raw. */
export function parseImageInfo(json: string, url: string): { format: DiskFormat; virtualSize: number } {
  const info = JSON.parse(json) as { format?: string; 'virtual-size'?: number; 'backing-filename'?: string }
  if (info['backing-filename']) {
    throw new ArtifactError(`cloud image ${url} refers to a backing file (${info['backing-filename']}): not a standalone image`, { url })
  }
  if (info.format !== 'qcow2' && info.format !== 'raw') {
    throw new ArtifactError(`cloud image ${url} is ${info.format ?? 'of unknown format'}: only qcow2 and raw disk images boot here`, { url }, {
      hint: 'use the "genericcloud"/"cloudimg" .qcow2 or .img file, not an archive (.tar.xz) or an ISO',
    })
  }
  return { format: info.format, virtualSize: info['virtual-size'] ?? 0 }
}

export interface EnsureCloudImageOptions {
  progress: Progress
  /** Shared client (tests count its requests); default: a new one. */
  http?: HttpClient
}

/** The verified cloud image in the cache: downloaded (resumable) and checked when missing. */
export async function ensureCloudImage(cache: string, ref: CloudImageRef, o: EnsureCloudImageOptions): Promise<CloudImage> {
  const file = blobPath(cache, ref.sha256)
  if ((await sizeOf(file)) === undefined) {
    await withFileLock(`${file}.lock`, { wait: true, what: `downloading ${ref.url}` }, async () => {
      if ((await sizeOf(file)) !== undefined) return
      const partial = path.join(cache, 'tmp', `cloud-image-${ref.sha256}.partial`)
      const http = o.http ?? new HttpClient()
      await o.progress.step(`Downloading the cloud image ${path.basename(new URL(ref.url, 'file:///').pathname)} (once)`, async () => {
        for (let fresh = 0; ; fresh++) {
          const bar = o.progress.interactive ? progressBar('cloud image', (s) => process.stderr.write(s)) : undefined
          let r
          try {
            r = await fetchToFile(http, ref.url, partial, bar?.update)
          } finally {
            bar?.end()
          }
          if (r.sha256 === ref.sha256) break
          await removeQuietly(partial)
          if (r.resumed && fresh === 0) continue // a resumed body may join two different files: once more from scratch
          throw sha256Mismatch(ref.url, ref.sha256, r.sha256)
        }
        await commitBlob(cache, partial, ref.sha256, 0o644)
      })
    })
  }
  const info = parseImageInfo((await host`qemu-img info --output=json ${file}`).stdout, ref.url)
  return { file, ...info }
}

/** A VM's disk: a qcow2 overlay over the cloud image, grown to overlaySize (cloud-init grows the root partition). */
export async function ensureCloudOverlay(image: CloudImage, disk: string): Promise<void> {
  if (existsSync(disk)) return
  await host`qemu-img create -q -f qcow2 -F ${image.format} -b ${image.file} ${disk} ${overlaySize(image.virtualSize)}`
}
