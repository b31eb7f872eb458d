// The workload images every node imports locally, so pods run with no registry at all:
//
//  - testbox (TESTBOX_IMAGE): Debian's busybox-static (`apt-get download`, unpacked with
//    `dpkg-deb -x`, never installed on the host) with applet symlinks in /bin, plus kubelab's
//    probe program (images/probe: serve / get / hog). Entrypoint `/bin/probe serve`.
//  - one image per `nodes: image` artifact of the enabled addons (coredns, local-path-provisioner,
//    metrics-server): the binary (built or fetched like every other binary, version from the
//    versions lock) alone at `/<file>`, its entrypoint; `kubelab.local/<component>:<version>`.
//
// The testbox tag is a hash of its recipe (probe source, applets, image config), so it is a
// constant callers can import; the busybox .deb is fetched once into the cache and kept, and the
// cached image tar is keyed by recipe + .deb hash. What nodes compare is the manifest digest
// (runtime:workload-images), so a different .deb under the same tag is still re-imported.

import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { NotMadeError } from '../errors.ts'
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import type { Artifact } from '../artifacts/resolve.ts'
import { DEFAULT_LOCK_FILE, loadLock, minorFor } from '../artifacts/lock.ts'
import { BUILD_SCRIPT } from '../artifacts/build.ts'
import { writeOciImage, type ImageFile, type OciImageSpec } from '../artifacts/oci.ts'
import { packagePath } from '../host/package.ts'
import { host } from '../host/exec.ts'
import { readJsonFile, writeJsonFile } from '../host/files.ts'
import type { Progress } from '../log/progress.ts'
import { DEFAULT_KUBERNETES_VERSION } from '../versions.ts'
import type { LocalImage } from './sandbox.ts'

const PROBE_SOURCE = packagePath('images/probe') + '/'

/** The Debian package whose /bin/busybox the testbox image carries. */
export const BUSYBOX_PACKAGE = 'busybox-static'

/** Busybox applets linked in /bin (each must be in `busybox --list`; the integration test checks). */
export const TESTBOX_APPLETS: readonly string[] = [
  'sh', 'ls', 'cat', 'echo', 'sleep', 'wget', 'nslookup', 'dd', 'head', 'tail', 'hostname', 'env',
  'ip', 'ps', 'kill', 'mkdir', 'grep',
  // Small extras tests tend to want.
  'true', 'false', 'test', 'printf', 'wc', 'sed', 'awk', 'cut', 'tr', 'sort', 'date', 'rm', 'touch',
  'cp', 'mv', 'ln', 'chmod', 'id', 'uname', 'df', 'free', 'nc', 'ping', 'timeout', 'seq', 'stat', 'which',
]

const TESTBOX_ENV = ['PATH=/bin', 'HOME=/root']
const TESTBOX_ENTRYPOINT = ['/bin/probe', 'serve']

/** The testbox image's content given the two binaries: /bin/busybox, applet links, /bin/probe. */
export function testboxSpec(ref: string, busybox: string, probe: string): OciImageSpec {
  const files: ImageFile[] = [
    { path: 'bin/busybox', source: busybox, mode: 0o755 },
    { path: 'bin/probe', source: probe, mode: 0o755 },
    ...TESTBOX_APPLETS.map((a) => ({ path: `bin/${a}`, symlink: 'busybox' })),
  ]
  return { ref, files, entrypoint: TESTBOX_ENTRYPOINT, env: TESTBOX_ENV }
}

function recipeHash(): string {
  const h = createHash('sha256')
  for (const f of ['main.go', 'go.mod']) h.update(f).update(readFileSync(path.join(PROBE_SOURCE, f)))
  h.update(JSON.stringify({ BUSYBOX_PACKAGE, TESTBOX_APPLETS, TESTBOX_ENV, TESTBOX_ENTRYPOINT }))
  return h.digest('hex').slice(0, 12)
}

/** `kubelab.local/testbox:<recipe-hash12>`: the reference pods use (imagePullPolicy IfNotPresent or Never). */
export const TESTBOX_IMAGE = `kubelab.local/testbox:${recipeHash()}`

export function corednsImageRef(version: string): string {
  return `kubelab.local/coredns:${version}`
}

/** The reference of the image holding an image artifact's binary: `kubelab.local/<component>:<version>`. */
export function imageRef(a: Pick<Artifact, 'component' | 'version'>): string {
  return `kubelab.local/${a.component}:${a.version}`
}

/** The binary of lock component `component` packed into an image (present while its addon is on). */
export function imageArtifact(artifacts: readonly Artifact[], component: string): Artifact | undefined {
  return artifacts.find((a) => a.component === component && a.nodes === 'image')
}

/** The CoreDNS image for the default Kubernetes version (the lock's coredns version). */
export const COREDNS_IMAGE = corednsImageRef(
  minorFor(loadLock(DEFAULT_LOCK_FILE), DEFAULT_KUBERNETES_VERSION).components.find((c) => c.name === 'coredns')?.version ?? 'unknown',
)


const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

/** The image cached at `tar` (with its `.json` LocalImage beside it), if both exist. */
function cached(tar: string): LocalImage | undefined {
  const meta = `${tar}.json`
  return existsSync(tar) ? readJsonFile<LocalImage>(meta, 'a cached image\'s metadata (remove it to rebuild)') : undefined
}

/** Writes the image to `tar` (atomically), then its `.json` LocalImage beside it. */
async function writeImage(tar: string, s: OciImageSpec): Promise<LocalImage> {
  await mkdir(path.dirname(tar), { recursive: true })
  const result = await writeOciImage(s, tar)
  const image: LocalImage = { ref: s.ref, tar, sha256: sha256Of(tar), digest: result.manifest.digest }
  writeJsonFile(`${tar}.json`, image, { mode: 0o644 })
  return image
}

/** The busybox-static .deb in `<cache>/debs` (downloaded once from the host's apt sources). */
async function busyboxDeb(cacheDir: string): Promise<string> {
  const dir = path.join(cacheDir, 'debs')
  const find = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${BUSYBOX_PACKAGE}_`) && f.endsWith('.deb')).sort() : [])
  if (find().length === 0) {
    await mkdir(dir, { recursive: true })
    const tmp = await mkdtemp(path.join(dir, '.download-'))
    try {
      // `apt-get download` writes into the working directory; as root it warns that it runs unsandboxed.
      await host`cd ${tmp} && apt-get download -q ${BUSYBOX_PACKAGE}`
      for (const f of readdirSync(tmp).filter((x) => x.endsWith('.deb'))) await rename(path.join(tmp, f), path.join(dir, f))
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }
  const found = find()
  if (found.length === 0) throw new Error(`apt-get download ${BUSYBOX_PACKAGE} left no .deb in ${dir}`)
  return path.join(dir, found[found.length - 1]!)
}

/** /bin/busybox unpacked from the .deb (not installed: busybox-static conflicts with busybox). */
async function busyboxBinary(cacheDir: string, deb: string): Promise<string> {
  const out = path.join(cacheDir, 'build', `${BUSYBOX_PACKAGE}-${sha256Of(deb).slice(0, 12)}`)
  const bin = path.join(out, 'bin', 'busybox')
  if (existsSync(bin)) return bin
  await mkdir(path.dirname(out), { recursive: true })
  const partial = await mkdtemp(`${out}.partial-`) // this process's own: concurrent runs never share it
  try {
    await host`dpkg-deb -x ${deb} ${partial}`
    if (existsSync(bin)) return bin // a concurrent run finished first
    await rm(out, { recursive: true, force: true })
    await rename(partial, out)
  } finally {
    await rm(partial, { recursive: true, force: true })
  }
  return bin
}

async function probeBinary(cacheDir: string, key: string): Promise<string> {
  const out = path.join(cacheDir, 'build', `probe-${key}-amd64`)
  if (!existsSync(path.join(out, 'probe'))) await host`bash ${BUILD_SCRIPT} probe ${key} ${out}`
  return path.join(out, 'probe')
}

export async function ensureTestboxImage(cacheDir: string, progress: Progress, o: { readOnly?: boolean } = {}): Promise<LocalImage> {
  const key = recipeHash()
  if (o.readOnly) {
    // Without fetching the busybox package: any testbox of this recipe the cache holds.
    const dir = path.join(cacheDir, 'images')
    const found = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`testbox-${key}-`) && f.endsWith('.tar')).sort() : []
    const image = found.length ? cached(path.join(dir, found.at(-1)!)) : undefined
    if (!image) throw new NotMadeError([{ what: 'the testbox image', how: 'build', build: 'testbox' }])
    return image
  }
  const deb = await busyboxDeb(cacheDir)
  const tar = path.join(cacheDir, 'images', `testbox-${key}-${sha256Of(deb).slice(0, 12)}.tar`)
  return cached(tar) ?? progress.step('Building the testbox image (busybox + probe)', async () =>
    writeImage(tar, testboxSpec(TESTBOX_IMAGE, await busyboxBinary(cacheDir, deb), await probeBinary(cacheDir, key))))
}

/** An image of one binary: the file alone at `/<name>`, its entrypoint. */
export function binarySpec(ref: string, name: string, binary: string): OciImageSpec {
  return { ref, files: [{ path: name, source: binary, mode: 0o755 }], entrypoint: [`/${name}`] }
}

export function corednsSpec(ref: string, binary: string): OciImageSpec {
  return binarySpec(ref, 'coredns', binary)
}

export async function ensureBinaryImage(cacheDir: string, artifact: Artifact, progress: Progress, o: { readOnly?: boolean } = {}): Promise<LocalImage> {
  const tar = path.join(cacheDir, 'images', `${artifact.component}-${artifact.version}-${artifact.sha256.slice(0, 12)}.tar`)
  const kept = cached(tar)
  if (kept) return kept
  if (o.readOnly) throw new NotMadeError([{ what: `the ${artifact.component} image (${artifact.version})`, how: 'build' }])
  return progress.step(`Building the ${artifact.component} image (${artifact.version})`, () =>
    writeImage(tar, binarySpec(imageRef(artifact), artifact.file, artifact.path)))
}

/**
 * The addons' images whose pods run on the control plane only (their manifests pin them there):
 * Traefik's is 178 MB, and importing it on every worker held up every node's join on a 2-core host.
 */
export const CONTROL_PLANE_IMAGES: readonly string[] = ['traefik']

/** testbox always; one image per `nodes: image` artifact (the enabled addons' binaries). */
export async function ensureWorkloadImages(cacheDir: string, artifacts: readonly Artifact[], progress: Progress, o: { readOnly?: boolean } = {}): Promise<LocalImage[]> {
  const images = [await ensureTestboxImage(cacheDir, progress, o)]
  for (const a of artifacts.filter((x) => x.nodes === 'image')) {
    const image = await ensureBinaryImage(cacheDir, a, progress, o)
    images.push(CONTROL_PLANE_IMAGES.includes(a.component) ? { ...image, controlPlaneOnly: true } : image)
  }
  return images
}
