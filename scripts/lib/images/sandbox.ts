// The sandbox (pause) image every node imports locally, so no registry is ever needed: kubelab's
// own pause program (images/pause) built with Go, packed by the OCI writer under the name
// containerd's config pins (SANDBOX_IMAGE). Cached by a hash of the program's source.

import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { NotMadeError } from '../errors.ts'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { BUILD_SCRIPT } from '../artifacts/build.ts'
import { writeOciImage } from '../artifacts/oci.ts'
import { packagePath } from '../host/package.ts'
import { host } from '../host/exec.ts'
import { readJsonFile, writeJsonFile } from '../host/files.ts'
import type { Progress } from '../log/progress.ts'
import { SANDBOX_IMAGE } from '../templates/files.ts'

const SOURCE = packagePath('images/pause') + '/'

export interface LocalImage {
  readonly ref: string
  /** OCI layout tar, ready for `ctr -n k8s.io images import`. */
  readonly tar: string
  readonly sha256: string
  /** The manifest digest containerd reports for the imported image. */
  readonly digest: string
  /** Imported on the control-plane nodes only (its pods are pinned there); absent: on every node. */
  readonly controlPlaneOnly?: boolean
}

function sourceHash(): string {
  const h = createHash('sha256')
  for (const f of ['main.go', 'go.mod']) h.update(f).update(readFileSync(path.join(SOURCE, f)))
  return h.digest('hex').slice(0, 12)
}

export async function ensureSandboxImage(cacheDir: string, progress: Progress, o: { readOnly?: boolean } = {}): Promise<LocalImage> {
  const key = sourceHash()
  const dir = path.join(cacheDir, 'images')
  const tar = path.join(dir, `sandbox-${key}.tar`)
  const meta = `${tar}.json`
  const kept = existsSync(tar) ? readJsonFile<LocalImage>(meta, 'the cached sandbox image\'s metadata (remove it to rebuild)') : undefined
  if (kept) return kept
  if (o.readOnly) throw new NotMadeError([{ what: 'the sandbox (pause) image', how: 'build', build: 'pause' }])
  return progress.step('Building the sandbox (pause) image', async () => {
    const out = path.join(cacheDir, 'build', `pause-${key}-amd64`)
    if (!existsSync(path.join(out, 'pause'))) await host`bash ${BUILD_SCRIPT} pause ${key} ${out}`
    await mkdir(dir, { recursive: true })
    const result = await writeOciImage({
      ref: SANDBOX_IMAGE,
      files: [{ path: 'pause', source: path.join(out, 'pause'), mode: 0o755 }],
      entrypoint: ['/pause'],
      user: '65535:65535',
    }, tar)
    const sha256 = createHash('sha256').update(readFileSync(tar)).digest('hex')
    const image: LocalImage = { ref: SANDBOX_IMAGE, tar, sha256, digest: result.manifest.digest }
    writeJsonFile(meta, image, { mode: 0o644 })
    return image
  })
}
