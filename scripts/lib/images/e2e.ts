// The upstream e2e suite's test images, built here from Go modules and Debian packages, never
// pulled: one recipe per image name (the reference's path after its registry, e.g.
// `e2e-test-images/agnhost`), each giving what upstream's Dockerfile puts in the image that the
// tests use. Go programs come from build.sh (test-images: agnhost and nnp from k8s.io/kubernetes
// at the cluster's version; sample-apiserver; etcd), Debian packages from debs.ts (the host's apt).
// Each image is an OCI layout tar in `<cache>/images/e2e/`, keyed by a hash of its recipe and
// inputs, with a `.json` beside it (LocalImage + the sources, with versions and sha256) and one
// `manifest.json` of everything built there. A second run finds the tar and builds nothing.

import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { ensureBuilt, type BuildOutcome, type BuildTarget } from '../artifacts/build.ts'
import type { Artifact } from '../artifacts/cache.ts'
import { hostArch, type Arch } from '../artifacts/lock.ts'
import { writeOciImage, type ImageFile, type OciImageSpec } from '../artifacts/oci.ts'
import { ArtifactError } from '../errors.ts'
import { host } from '../host/exec.ts'
import { readJsonFile, writeJsonFile } from '../host/files.ts'
import { formatDuration, type Progress } from '../log/progress.ts'
import { withFileLock } from '../providers/common/lock.ts'
import { downloadDebs, keptInImage, resolvePackages, treeFiles, unpackDebs, UNPACK_REVISION, type DebFile } from './debs.ts'
import { ensureSandboxImage, type LocalImage } from './sandbox.ts'

/** Where an image's content came from (the manifest's `sources`). */
export interface ImageSource {
  readonly kind: 'deb' | 'go' | 'artifact' | 'image'
  /** Package, Go module (its build.sh component in `build`), artifact or image name. */
  readonly name: string
  /** kind go: the build.sh component that built the files. */
  readonly build?: string
  readonly version: string
  /** The .deb's, or each built file's, sha256. */
  readonly sha256: string | Record<string, string>
}

export interface BuiltImage extends LocalImage {
  readonly recipe: string
  readonly sources: readonly ImageSource[]
  readonly builtAt: string
  readonly buildMs: number
}

/** What the recipes build from, beside the reference itself. */
export interface E2eBuildContext {
  /** The cluster's Kubernetes version: agnhost and nnp come from k8s.io/kubernetes at it. */
  readonly kubernetesVersion: string
  readonly cache: string
  readonly arch: Arch
  readonly progress: Progress
  /** The cluster's coredns binary (agnhost carries one at /coredns, as upstream's does). */
  readonly coredns?: Artifact
}

/** A reference split: `registry.k8s.io/e2e-test-images/agnhost:2.59` -> registry, name `e2e-test-images/agnhost`, tag. */
export interface ImageRef {
  readonly ref: string
  readonly registry: string
  readonly name: string
  readonly tag: string
}

export function parseRef(ref: string): ImageRef {
  const m = /^([^/]+)\/([^:@]+)(?::([^@]+))?(?:@.*)?$/.exec(ref.trim())
  if (!m) throw new ArtifactError(`not an image reference with a registry: ${ref}`, { component: 'e2e-images' })
  return { ref: ref.trim(), registry: m[1]!, name: m[2]!, tag: m[3] ?? 'latest' }
}

/** What a recipe's `spec` gets: the Debian root's files and the Go build's folder. */
export interface RecipeParts {
  readonly root: readonly ImageFile[]
  readonly goDir?: string
  readonly coredns?: string
  /** `busybox --list` of the root's busybox (recipes with `applets`). */
  readonly applets?: readonly string[]
}

export interface E2eRecipe {
  /** The image name the recipe makes (the reference's path after the registry). */
  readonly name: string
  /** Where it comes from and why, in a sentence (docs, `--list-images` report). */
  readonly about: string
  /** Debian packages in its root, with their dependencies (none: no Debian root). */
  readonly debs: readonly string[]
  /** The Go build whose files it carries: the build.sh target and the Go module it builds from. */
  readonly go?: (ref: ImageRef, k8s: string) => GoBuild
  /** Carries the cluster's coredns binary. */
  readonly coredns?: boolean
  /** The root's busybox (path in the root) whose applets `spec` links (listed by running it here). */
  readonly applets?: string
  /** Bump when `spec` changes what it writes (part of the cache key). */
  readonly revision: number
  /** Not built: another image (the sandbox image) is tagged with the reference on the nodes. */
  readonly reuse?: 'sandbox'
  spec(ref: ImageRef, parts: RecipeParts): OciImageSpec
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

const file = (p: string, source: string, mode = 0o644): ImageFile => ({ path: p, source, mode })
const text = (p: string, content: string, mode = 0o644): ImageFile => ({ path: p, content, mode })

/** `base` with `over` on top: a path in both takes `over`'s entry. */
export function overlay(base: readonly ImageFile[], over: readonly ImageFile[]): ImageFile[] {
  const norm = (p: string) => p.replace(/^\/+/, '').replace(/\/+$/, '')
  const replaced = new Set(over.map((f) => norm(f.path)))
  return [...base.filter((f) => !replaced.has(norm(f.path))), ...over]
}

interface Account { name: string; uid: number; gid: number; home: string; shell: string }
interface Group { name: string; gid: number; members?: string[] }

const ROOT: Account = { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' }
const NOBODY: Account = { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent', shell: '/usr/sbin/nologin' }

/** /etc/passwd, /etc/group, /etc/nsswitch.conf, /tmp, /root: what a Debian root unpacked without maintainer scripts lacks. */
export function systemFiles(accounts: readonly Account[], groups: readonly Group[]): ImageFile[] {
  const all = [ROOT, ...accounts, NOBODY]
  const gs: Group[] = [{ name: 'root', gid: 0 }, ...groups, { name: 'nogroup', gid: 65534 }]
  return [
    text('etc/passwd', all.map((a) => `${a.name}:x:${a.uid}:${a.gid}:${a.name}:${a.home}:${a.shell}\n`).join('')),
    text('etc/group', gs.map((g) => `${g.name}:x:${g.gid}:${(g.members ?? []).join(',')}\n`).join('')),
    text('etc/nsswitch.conf', 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n'),
    { path: 'tmp', dir: true, mode: 0o1777 },
    { path: 'root', dir: true, mode: 0o700 },
  ]
}

/** `/bin/sh` -> dash (dash's maintainer script makes that link; unpacked .debs lack it). */
const SH_LINK: ImageFile = { path: 'usr/bin/sh', symlink: 'dash' }

export interface GoBuild {
  readonly target: BuildTarget
  readonly module: string
}

/** k8s.io/kubernetes test/images/ programs at the cluster's version (build.sh test-images). */
export const TEST_IMAGES_BUILD = 'test-images'
const testImages = (_ref: ImageRef, k8s: string): GoBuild => ({
  module: 'k8s.io/kubernetes',
  target: {
    build: TEST_IMAGES_BUILD,
    version: k8s,
    files: ['agnhost', 'nnp', 'localhost.crt', 'localhost.key', 'agnhost.VERSION', 'kitten.jpg', 'kitten.data.json', 'nautilus.jpg', 'nautilus.data.json']
      .map((name) => ({ name, nodes: 'image' as const, versionArgs: [] })),
  },
})

/** agnhost's packages: what tests run inside it (upstream's `apk add bind-tools curl netcat-openbsd iproute2 iperf bash`). */
export const AGNHOST_DEBS: readonly string[] = ['dash', 'bash', 'coreutils', 'grep', 'sed', 'libc-bin', 'curl', 'netcat-openbsd', 'bind9-dnsutils', 'iproute2', 'iperf']

/** agnhost's image: the Debian root, /agnhost (+ agnhost-2), the TLS pair, /uploads, /coredns, the image-defined user and group. */
function agnhostFiles(p: RecipeParts): ImageFile[] {
  const go = p.goDir!
  return overlay(p.root, [
    SH_LINK,
    ...systemFiles(
      [{ name: 'user-defined-in-image', uid: 1000, gid: 1000, home: '/home/user-defined-in-image', shell: '/bin/sh' }],
      [{ name: 'user-defined-in-image', gid: 1000 }, { name: 'group-defined-in-image', gid: 50000, members: ['user-defined-in-image'] }],
    ),
    file('agnhost', path.join(go, 'agnhost'), 0o755),
    { path: 'agnhost-2', symlink: 'agnhost' },
    file('localhost.crt', path.join(go, 'localhost.crt')),
    file('localhost.key', path.join(go, 'localhost.key')),
    { path: 'uploads', dir: true, mode: 0o755 },
    { path: 'home/user-defined-in-image', dir: true, mode: 0o755 },
    { path: 'usr/local/bin/iperf', symlink: '/usr/bin/iperf' },
    ...(p.coredns ? [file('coredns', p.coredns, 0o755)] : []),
  ])
}

const NGINX_CONF = `# kubelab's e2e nginx image: the upstream image's behaviour (port 80, /usr/share/nginx/html, logs to stdout/stderr)
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log /dev/stdout;
  sendfile on;
  server {
    listen 80 default_server;
    root /usr/share/nginx/html;
    index index.html index.htm;
  }
}
`
const NGINX_INDEX = '<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>\n'

/** Every image a recipe exists for, by name. */
export const E2E_RECIPES: readonly E2eRecipe[] = [
  {
    name: 'e2e-test-images/agnhost',
    about: 'agnhost from k8s.io/kubernetes at the cluster\'s version; Debian sh, bash, curl, OpenBSD nc, dig, getent, grep, timeout, ss, iperf; the cluster\'s coredns at /coredns',
    debs: AGNHOST_DEBS,
    go: testImages,
    coredns: true,
    revision: 1,
    spec: (ref, p) => ({ ref: ref.ref, files: agnhostFiles(p), entrypoint: ['/agnhost'], cmd: ['pause'], env: [DEFAULT_PATH] }),
  },
  ...(['kitten', 'nautilus'] as const).map((page): E2eRecipe => ({
    name: `e2e-test-images/${page}`,
    about: `agnhost test-webserver serving ${page}.jpg and data.json (k8s.io/kubernetes test/images/${page}); upstream builds it on the whole agnhost image, the tests (kubectl's Update Demo) only fetch data.json`,
    debs: [],
    go: testImages,
    revision: 1,
    spec: (ref, p) => ({
      ref: ref.ref,
      files: [
        file('agnhost', path.join(p.goDir!, 'agnhost'), 0o755),
        file(`${page}.jpg`, path.join(p.goDir!, `${page}.jpg`)),
        file('data.json', path.join(p.goDir!, `${page}.data.json`)),
        { path: 'tmp', dir: true, mode: 0o1777 },
      ],
      entrypoint: ['/agnhost'], cmd: ['test-webserver'], env: [DEFAULT_PATH],
    }),
  })),
  {
    name: 'e2e-test-images/busybox',
    about: 'Debian busybox-static with a link in /bin for each of its applets (as upstream\'s), /etc/passwd and /etc/group with root and nobody',
    debs: ['busybox-static'],
    applets: 'usr/bin/busybox',
    revision: 2,
    spec: (ref, p) => ({ ref: ref.ref, files: overlay(p.root, [...busyboxLinks(p.root, p.applets ?? []), ...systemFiles([], [])]), entrypoint: [], cmd: ['sh'], env: [DEFAULT_PATH] }),
  },
  {
    name: 'e2e-test-images/httpd',
    about: 'busybox httpd serving /usr/local/apache2/htdocs (upstream\'s docroot, which StatefulSet tests move index.html out of) on :80 in the foreground, busybox applets for exec (Kubernetes <= 1.34)',
    debs: ['busybox-static'],
    applets: 'usr/bin/busybox',
    revision: 2,
    spec: (ref, p) => ({
      ref: ref.ref,
      files: overlay(p.root, [
        ...busyboxLinks(p.root, p.applets ?? []), ...systemFiles([], []),
        text('usr/local/apache2/htdocs/index.html', '<html><body><h1>It works!</h1></body></html>\n'),
      ]),
      entrypoint: [], cmd: ['httpd', '-f', '-v', '-p', '80', '-h', '/usr/local/apache2/htdocs'], env: [DEFAULT_PATH],
    }),
  },
  {
    name: 'e2e-test-images/nginx',
    about: 'Debian nginx serving /usr/share/nginx/html on :80 in the foreground (upstream\'s is nginx on Alpine), with Debian sh and coreutils',
    debs: ['nginx', 'dash', 'coreutils'],
    revision: 1,
    spec: (ref, p) => ({
      ref: ref.ref,
      files: overlay(p.root, [
        SH_LINK,
        ...systemFiles([{ name: 'www-data', uid: 33, gid: 33, home: '/var/www', shell: '/usr/sbin/nologin' }], [{ name: 'www-data', gid: 33 }]),
        text('etc/nginx/nginx.conf', NGINX_CONF),
        text('usr/share/nginx/html/index.html', NGINX_INDEX),
        { path: 'var/lib/nginx', dir: true, mode: 0o755 },
        { path: 'var/log/nginx', dir: true, mode: 0o755 },
        { path: 'run', dir: true, mode: 0o755 },
      ]),
      entrypoint: [], cmd: ['nginx', '-g', 'daemon off;'], env: [DEFAULT_PATH],
    }),
  },
  {
    name: 'e2e-test-images/jessie-dnsutils',
    about: 'the DNS tests\' querier: Debian sh, dig, getent, coreutils (seq, test, sleep), grep',
    debs: ['dash', 'coreutils', 'grep', 'sed', 'libc-bin', 'bind9-dnsutils'],
    revision: 1,
    spec: (ref, p) => ({ ref: ref.ref, files: overlay(p.root, [SH_LINK, ...systemFiles([], [])]), entrypoint: [], cmd: ['sh'], env: [DEFAULT_PATH] }),
  },
  {
    name: 'e2e-test-images/nonewprivs',
    about: 'nnp from k8s.io/kubernetes test/images/nonewprivs (prints its effective uid), setuid root at /usr/local/bin/nnp',
    debs: [],
    go: testImages,
    revision: 1,
    spec: (ref, p) => ({
      ref: ref.ref,
      files: [file('usr/local/bin/nnp', path.join(p.goDir!, 'nnp'), 0o4755), { path: 'tmp', dir: true, mode: 0o1777 }],
      entrypoint: [], cmd: ['nnp'], env: [DEFAULT_PATH],
    }),
  },
  {
    name: 'e2e-test-images/sample-apiserver',
    about: 'k8s.io/sample-apiserver at the cluster\'s minor (the staging module of its Kubernetes version), entrypoint /sample-apiserver',
    debs: [],
    go: (_ref, k8s) => ({ module: 'k8s.io/sample-apiserver', target: { build: 'sample-apiserver', version: `v0.${k8s.replace(/^v1\./, '')}`, files: [{ name: 'sample-apiserver', nodes: 'image', versionArgs: [] }] } }),
    revision: 1,
    spec: (ref, p) => ({
      ref: ref.ref,
      files: [file('sample-apiserver', path.join(p.goDir!, 'sample-apiserver'), 0o755), { path: 'tmp', dir: true, mode: 0o1777 }],
      entrypoint: ['/sample-apiserver'], env: [DEFAULT_PATH],
    }),
  },
  {
    name: 'etcd',
    about: 'etcd and etcdctl at the tag\'s version (go.etcd.io/etcd, build.sh etcd) in /usr/local/bin',
    debs: [],
    go: (ref) => ({ module: 'go.etcd.io/etcd/server/v3', target: { build: 'etcd', version: `v${ref.tag.replace(/-\d+$/, '')}`, files: ['etcd', 'etcdctl'].map((name) => ({ name, nodes: 'image' as const, versionArgs: ['--version'] })) } }),
    revision: 1,
    spec: (ref, p) => ({
      ref: ref.ref,
      files: ['etcd', 'etcdctl'].map((b) => file(`usr/local/bin/${b}`, path.join(p.goDir!, b), 0o755)).concat([{ path: 'tmp', dir: true, mode: 0o1777 }, { path: 'var/lib/etcd', dir: true, mode: 0o700 }]),
      entrypoint: [], cmd: ['/usr/local/bin/etcd'], env: [DEFAULT_PATH],
    }),
  },
  {
    name: 'pause',
    about: 'kubelab\'s own pause program (images/pause), the image every node already runs as its sandbox',
    debs: [],
    revision: 1,
    reuse: 'sandbox',
    spec: () => { throw new Error('the pause recipe reuses the sandbox image') },
  },
]

export function recipeFor(name: string): E2eRecipe | undefined {
  return E2E_RECIPES.find((r) => r.name === name)
}

/**
 * busybox's applets (`busybox --list`) as links to /bin/busybox, every one in /bin (merged: usr/bin)
 * as the upstream busybox image has them: tests run `/bin/sysctl`, which `--list-full` puts in
 * /sbin. A path the root already has keeps its file (pure).
 */
export function busyboxLinks(root: readonly ImageFile[], listed: readonly string[]): ImageFile[] {
  if (listed.length === 0) throw new ArtifactError('busybox listed no applets', { component: 'e2e-images' })
  const seen = new Set(root.map((f) => f.path))
  const out: ImageFile[] = []
  for (const a of listed) {
    const at = `usr/bin/${a.split('/').pop()}`
    if (seen.has(at)) continue
    seen.add(at)
    out.push({ path: at, symlink: '/bin/busybox' })
  }
  return out
}

const sha256Of = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex')

/** The cache key of an image: recipe, its inputs' identities and the reference. */
function imageKey(recipe: E2eRecipe, ref: ImageRef, go: BuildOutcome | undefined, coredns: Artifact | undefined): string {
  const goFiles = go ? Object.fromEntries(Object.entries(go.record.files).map(([k, v]) => [k, v.sha256])) : undefined
  return createHash('sha256').update(JSON.stringify({
    n: recipe.name, r: recipe.revision, d: recipe.debs, u: recipe.debs.length ? UNPACK_REVISION : undefined, ref: ref.ref,
    go: go ? { b: go.build, v: go.version, f: goFiles } : undefined,
    c: recipe.coredns ? coredns?.sha256 : undefined,
  })).digest('hex').slice(0, 12)
}

export function e2eImageDir(cache: string): string {
  return path.join(cache, 'images', 'e2e')
}

/** `<cache>/images/e2e/manifest.json`: every image built there, by reference. */
export function manifestPath(cache: string): string {
  return path.join(e2eImageDir(cache), 'manifest.json')
}

interface Manifest {
  images: Record<string, BuiltImage>
}

function recordInManifest(cache: string, image: BuiltImage): void {
  const file = manifestPath(cache)
  const m: Manifest = readJsonFile<Manifest>(file, 'the e2e images manifest (remove it: it is rewritten as images are built)') ?? { images: {} }
  m.images[image.ref] = image
  writeJsonFile(file, m, { mode: 0o644 })
}

/** The sandbox image as the pause recipe's result (no build of its own). */
async function sandboxAsBuilt(ctx: E2eBuildContext): Promise<BuiltImage> {
  const s = await ensureSandboxImage(ctx.cache, ctx.progress)
  return { ...s, recipe: 'pause', sources: [{ kind: 'image', name: 'kubelab sandbox (images/pause)', version: s.ref, sha256: s.sha256 }], builtAt: '', buildMs: 0 }
}

/**
 * The image of `ref` by its recipe, from the cache or built now (Go build, Debian packages, OCI
 * tar, manifest). One build of an image at a time across kubelab processes.
 */
export async function ensureE2eImage(recipe: E2eRecipe, ref: ImageRef, ctx: E2eBuildContext): Promise<BuiltImage> {
  if (recipe.reuse === 'sandbox') return sandboxAsBuilt(ctx)
  if (recipe.coredns && !ctx.coredns) throw new ArtifactError(`${ref.ref} carries coredns, and the cluster's artifacts have no coredns binary`, { component: 'e2e-images' }, { hint: 'addons.coredns on (the default)' })
  const started = Date.now()
  const gb = recipe.go?.(ref, ctx.kubernetesVersion)
  const [go] = gb ? await ensureBuilt([gb.target], { cache: ctx.cache, arch: ctx.arch, progress: ctx.progress }) : []
  const key = imageKey(recipe, ref, go, ctx.coredns)
  const dir = e2eImageDir(ctx.cache)
  const tar = path.join(dir, `${ref.name.split('/').pop()}-${ref.tag}-${key}.tar`)
  const meta = `${tar}.json`
  const cachedImage = () => (existsSync(tar) && existsSync(meta) ? readJsonFile<BuiltImage>(meta, 'a cached e2e image\'s metadata (remove it to rebuild)') : undefined)
  const hit = cachedImage()
  if (hit) return hit
  await mkdir(dir, { recursive: true })
  return withFileLock(`${tar}.lock`, { wait: true, what: `building image ${ref.ref}` }, async () => {
    const again = cachedImage()
    if (again) return again
    return ctx.progress.step(`Building ${ref.ref}`, async () => {
      let debs: DebFile[] = []
      let root: ImageFile[] = []
      let applets: string[] | undefined
      if (recipe.debs.length) {
        debs = await downloadDebs(ctx.cache, await resolvePackages(recipe.debs))
        const debroot = await unpackDebs(ctx.cache, debs)
        root = await treeFiles(debroot, keptInImage)
        if (recipe.applets) {
          if (ctx.arch !== hostArch()) throw new ArtifactError(`${ref.ref}: listing busybox's applets runs it, and it is ${ctx.arch}, this host ${hostArch()}`, { component: 'e2e-images' })
          applets = (await host`${path.join(debroot, recipe.applets)} --list`).stdout.split('\n').map((l) => l.trim()).filter(Boolean)
        }
      }
      const spec = recipe.spec(ref, { root, ...(go ? { goDir: go.dir } : {}), ...(recipe.coredns && ctx.coredns ? { coredns: ctx.coredns.path } : {}), ...(applets ? { applets } : {}) })
      const result = await writeOciImage({ ...spec, arch: ctx.arch }, tar)
      const sources: ImageSource[] = [
        ...(go && gb ? [{ kind: 'go' as const, name: gb.module, build: go.build, version: go.version, sha256: Object.fromEntries(Object.entries(go.record.files).map(([k, v]) => [k, v.sha256])) }] : []),
        ...(recipe.coredns && ctx.coredns ? [{ kind: 'artifact' as const, name: 'coredns', version: ctx.coredns.version, sha256: ctx.coredns.sha256 }] : []),
        ...debs.map((d) => ({ kind: 'deb' as const, name: d.name, version: d.version, sha256: d.sha256 })),
      ]
      const image: BuiltImage = { ref: ref.ref, tar, sha256: sha256Of(tar), digest: result.manifest.digest, recipe: recipe.name, sources, builtAt: new Date().toISOString(), buildMs: Date.now() - started }
      writeJsonFile(meta, image, { mode: 0o644 })
      recordInManifest(ctx.cache, image)
      return image
    }, (i) => `${i.digest.slice(0, 19)}, ${i.sources.length} sources, built in ${formatDuration(i.buildMs)}`)
  })
}
