// Artifacts end to end against a local HTTP server on 127.0.0.1 that plays upstream (download,
// `artifacts lock`) and a mirror. Small fake files stand in for the real binaries; every test has
// its own KUBELAB_CACHE.
import test, { type ExecutionContext } from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { openBundle } from '../../scripts/lib/artifacts/bundle.ts'
import { writeBundle } from '../../scripts/lib/artifacts/bundle-write.ts'
import { blobPath, indexPath, readBuildLock } from '../../scripts/lib/artifacts/cache.ts'
import { HttpClient } from '../../scripts/lib/artifacts/fetch.ts'
import { resolveArtifacts, resolveDetailed, type Artifact } from '../../scripts/lib/artifacts/resolve.ts'
import { tarChunks } from '../../scripts/lib/artifacts/tar.ts'
import { uploadAll } from '../../scripts/lib/artifacts/upload.ts'
import { loadConfig } from '../../scripts/lib/config/load.ts'
import type { ClusterConfig } from '../../scripts/lib/config/types.ts'
import { ArtifactError, StepError } from '../../scripts/lib/errors.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import { kubelab } from '../helpers/cli.ts'
import { startHttpServer, type TestServer } from '../helpers/http-server.ts'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const ARCHES = ['amd64', 'arm64'] as const

async function tarGz(entries: { name: string; content: Buffer }[]): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of tarChunks(entries.map((e) => ({ ...e, mode: 0o755 })))) chunks.push(c)
  return gzipSync(Buffer.concat(chunks))
}

interface Fixture {
  dir: string
  cache: string
  server: TestServer & { close: () => Promise<void> }
  /** Upstream asset bytes by URL path. */
  assets: Map<string, Buffer>
  /** Expected extracted file contents (amd64). */
  contents: Record<string, Buffer>
  configFile: (artifacts: Record<string, string>) => Promise<string>
  load: (artifacts: Record<string, string>) => Promise<ClusterConfig>
  env: Record<string, string>
  logs: string[]
  progress: Progress
  http: HttpClient
}

function lockYaml(base: string): string {
  return `# test lock: plays the shipped one, pointing at a local server
schema: 1
default: "1.35"
minors:
  "1.35":
    kubernetes: v1.35.4
    components:
      kubelet:
        version: v1.35.4
        build: kubernetes
        url: ${base}/release/{version}/bin/linux/{arch}/kubelet
        checksum: "{url}.sha256"
        files:
          kubelet: { install: /usr/local/bin, nodes: all }
        sha256: { amd64: null, arm64: null }   # pinned by artifacts lock
      containerd:
        version: v2.2.9
        build: containerd
        url: ${base}/containerd/releases/download/{version}/containerd-{semver}-linux-{arch}.tar.gz
        checksum: "{url}.sha256sum"
        archive: tar.gz
        files:
          containerd: { path: bin/containerd, install: /usr/local/bin, nodes: all }
          ctr: { path: bin/ctr, install: /usr/local/bin, nodes: all }
        sha256: { amd64: null, arm64: null }
      etcd:
        version: v3.6.16
        build: etcd
        url: ${base}/etcd/releases/download/{version}/etcd-{version}-linux-{arch}.tar.gz
        checksum: ${base}/etcd/releases/download/{version}/SHA256SUMS
        archive: tar.gz
        files:
          etcd: { path: "etcd-{version}-linux-{arch}/etcd", install: /usr/local/bin, nodes: control-plane }
          etcdctl: { path: "etcd-{version}-linux-{arch}/etcdctl", install: /usr/local/bin, nodes: control-plane, version_args: [version] }
        sha256: { amd64: null, arm64: null }
`
}

async function fixture(t: ExecutionContext, options: { lockBase?: string } = {}): Promise<Fixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubelab-artifacts-'))
  const server = await startHttpServer()
  t.teardown(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  const assets = new Map<string, Buffer>()
  const contents: Record<string, Buffer> = {}
  const etcdSums: string[] = []
  for (const arch of ARCHES) {
    const kubelet = randomBytes(arch === 'amd64' ? 1_500_000 : 1000)
    const containerd = randomBytes(300_000)
    const ctr = randomBytes(200_000)
    const etcd = randomBytes(250_000)
    const etcdctl = randomBytes(100_000)
    if (arch === 'amd64') Object.assign(contents, { kubelet, containerd, ctr, etcd, etcdctl })
    const k = `/release/v1.35.4/bin/linux/${arch}/kubelet`
    assets.set(k, kubelet)
    server.files.set(`${k}.sha256`, Buffer.from(`${sha(kubelet)}\n`))
    const cname = `containerd-2.2.9-linux-${arch}.tar.gz`
    const c = `/containerd/releases/download/v2.2.9/${cname}`
    assets.set(c, await tarGz([{ name: 'bin/containerd', content: containerd }, { name: 'bin/ctr', content: ctr }, { name: 'bin/containerd-stress', content: Buffer.from('x') }]))
    server.files.set(`${c}.sha256sum`, Buffer.from(`${sha(assets.get(c)!)}  ${cname}\n`))
    const ename = `etcd-v3.6.16-linux-${arch}.tar.gz`
    const e = `/etcd/releases/download/v3.6.16/${ename}`
    assets.set(e, await tarGz([{ name: `./etcd-v3.6.16-linux-${arch}/etcd`, content: etcd }, { name: `./etcd-v3.6.16-linux-${arch}/etcdctl`, content: etcdctl }]))
    etcdSums.push(`${sha(assets.get(e)!)}  ${ename}`)
  }
  server.files.set('/etcd/releases/download/v3.6.16/SHA256SUMS', Buffer.from(etcdSums.join('\n') + '\n'))
  for (const [p, b] of assets) server.files.set(p, b)
  await writeFile(path.join(dir, 'lock.yaml'), lockYaml(options.lockBase ?? server.url))
  const cache = path.join(dir, 'cache')
  const env = { KUBELAB_CACHE: cache, PATH: process.env.PATH ?? '', HOME: dir }
  const configFile = async (artifacts: Record<string, string>) => {
    const file = path.join(dir, 'cluster.config.yaml')
    const lines = Object.entries({ lock: './lock.yaml', ...artifacts }).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
    await writeFile(file, `kubernetes:\n  version: v1.35.4\nnodes:\n  - { name: cp, role: control-plane }\n  - { name: w1, role: worker }\nartifacts:\n${lines.join('\n')}\naddons:\n  coredns: false\n`)
    return file
  }
  const logs: string[] = []
  return {
    dir, cache, server, assets, contents, configFile, env, logs,
    load: async (artifacts) => loadConfig(await configFile(artifacts), { env: {} }).config,
    progress: new Progress({ sink: { write: (s: string) => logs.push(s) }, interactive: false }),
    http: new HttpClient({ backoffMs: 5 }),
  }
}

function assertContents(t: ExecutionContext, f: Fixture, artifacts: readonly Artifact[]) {
  t.deepEqual(artifacts.map((a) => a.file).sort(), ['containerd', 'ctr', 'etcd', 'etcdctl', 'kubelet'])
  for (const a of artifacts) {
    t.is(a.sha256, sha(f.contents[a.file]!), a.file)
    t.is(a.size, f.contents[a.file]!.length)
  }
}

async function checkFiles(t: ExecutionContext, f: Fixture, artifacts: readonly Artifact[]) {
  for (const a of artifacts) t.true((await readFile(a.path)).equals(f.contents[a.file]!), a.file)
}

test('download: unpinned lock is checked against upstream checksum files; a warm cache makes zero requests', async (t) => {
  const f = await fixture(t)
  const config = await f.load({ source: 'download' })
  const first = await resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http })
  assertContents(t, f, first)
  await checkFiles(t, f, first)
  t.true(first.every((a) => a.origin === 'download'))
  t.true(f.server.requests.length >= 6, 'asset + checksum per component')
  t.regex(f.logs.join(''), /sha256 not pinned .*kubelab artifacts lock/)

  f.server.requests.length = 0
  const http = new HttpClient()
  const started = performance.now()
  const again = await resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http })
  const ms = performance.now() - started
  t.is(f.server.requests.length, 0, 'cache hit: no request reached the server')
  t.is(http.requests, 0)
  t.deepEqual(again, first)
  t.true(ms < 1000, `warm resolve took ${ms}ms`)
})

/** A fake `go` on PATH and a build.sh stand-in that writes small scripts as the built files, logging each build. */
async function fakeBuild(f: Fixture): Promise<{ env: Record<string, string>; script: string; counter: string }> {
  const bin = path.join(f.dir, 'bin')
  await mkdir(bin, { recursive: true })
  await writeFile(path.join(bin, 'go'), '#!/bin/sh\necho "go version go0.0-fake"\n', { mode: 0o755 })
  const script = path.join(f.dir, 'fake-build.sh')
  const counter = path.join(f.dir, 'builds.log')
  await writeFile(script, `#!/usr/bin/env bash
set -euo pipefail
echo "$1 $2" >> ${counter}
mkdir -p "$3.partial"
case "$1" in kubernetes) files="kubelet" ;; containerd) files="containerd ctr" ;; etcd) files="etcd etcdctl" ;; esac
for f in $files; do printf '#!/bin/sh\\necho "%s %s"\\n' "$f" "$2" > "$3.partial/$f"; chmod +x "$3.partial/$f"; done
rm -rf "$3"; mv "$3.partial" "$3"
`)
  return { env: { ...f.env, PATH: `${bin}:/usr/bin:/bin` }, script, counter }
}

/** Overwrites `file` with other bytes of the same size and puts its mtime back: only the ctime tells. */
async function tamperSameSize(file: string): Promise<void> {
  const before = await stat(file)
  const bytes = await readFile(file)
  bytes[0] = bytes[0]! ^ 0xff
  await chmod(file, 0o644)
  await writeFile(file, bytes)
  await chmod(file, before.mode & 0o777)
  await utimes(file, before.atime, before.mtime)
}

test('warm cache: a same-size tampered blob (mtime put back) is refused, naming the file and both digests', async (t) => {
  const f = await fixture(t)
  const config = await f.load({ source: 'download' })
  const first = await resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http })
  const kubelet = first.find((a) => a.file === 'kubelet')!
  await tamperSameSize(kubelet.path)
  const actual = sha(await readFile(kubelet.path))
  const http = new HttpClient()
  const err = await t.throwsAsync(resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http }), { instanceOf: ArtifactError, code: 'ERR_ARTIFACT' })
  t.true(err!.message.includes(kubelet.path), err!.message)
  t.regex(err!.message, new RegExp(`expected ${kubelet.sha256}\\n\\s+actual\\s+${actual}`))
  t.like(err!.details, { file: kubelet.path, expected: kubelet.sha256, actual })
  t.is(http.requests, 0)
})

test('warm cache: a same-size tampered built binary is refused too', async (t) => {
  const f = await fixture(t, { lockBase: 'http://127.0.0.1:9' })
  const { env, script } = await fakeBuild(f)
  const config = await f.load({ source: 'build' })
  const opts = { arch: 'amd64' as const, progress: f.progress, env, http: new HttpClient({ attempts: 1 }), buildScript: script }
  const built = await resolveArtifacts(config, opts)
  t.deepEqual(await resolveArtifacts(config, opts), built, 'warm: the kept digests answer')
  const etcd = built.find((a) => a.file === 'etcd')!
  await tamperSameSize(etcd.path)
  const err = await t.throwsAsync(resolveArtifacts(config, opts), { instanceOf: ArtifactError })
  t.true(err!.message.includes(etcd.path), err!.message)
  t.regex(err!.message, /built here/)
})

test('lock pins apply to downloads only: a built binary is used although it differs from the pinned upstream digest', async (t) => {
  const f = await fixture(t, { lockBase: 'http://127.0.0.1:9' })
  const lockFile = path.join(f.dir, 'lock.yaml')
  const upstream = 'ab'.repeat(32)
  await writeFile(lockFile, (await readFile(lockFile, 'utf8')).replace('sha256: { amd64: null, arm64: null }   # pinned by artifacts lock', `sha256: { amd64: ${upstream}, arm64: ${upstream} }`))
  const { env, script, counter } = await fakeBuild(f)
  for (const source of ['auto', 'build']) {
    const config = await f.load({ source })
    const opts = { arch: 'amd64' as const, progress: f.progress, env, http: new HttpClient({ attempts: 1 }), buildScript: script }
    const r = await resolveArtifacts(config, opts)
    const kubelet = r.find((a) => a.file === 'kubelet')!
    t.is(kubelet.origin, 'build', source)
    t.not(kubelet.sha256, upstream)
    t.is(kubelet.sha256, sha(await readFile(kubelet.path)))
  }
  t.is((await readFile(counter, 'utf8')).trim().split('\n').length, 3, 'built once; the pin never invalidated the build')
  const list = await kubelab(['-c', await f.configFile({ source: 'auto' }), 'artifacts', 'list', '--json'], { env: { ...env, KUBELAB_EGRESS: 'off' } })
  t.is(list.code, 0, list.stderr)
  const rows = JSON.parse(list.stdout).artifacts as { file: string; status: string; pinned: boolean }[]
  t.true(rows.every((x) => x.status === 'cached'), list.stdout)
  t.true(rows.find((x) => x.file === 'kubelet')!.pinned)
})

test('two resolves of one config at once (an up while plan resolves) share the cache: both verified, no partial left', async (t) => {
  const f = await fixture(t)
  const config = await f.load({ source: 'download' })
  const [a, b] = await Promise.all([0, 1].map(() => resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: new HttpClient({ backoffMs: 5 }) })))
  assertContents(t, f, a!)
  t.deepEqual(b, a)
  await checkFiles(t, f, a!)
  t.deepEqual((await readdir(path.join(f.cache, 'tmp')).catch(() => [])).filter((x) => !x.endsWith('.lock')), [], 'no partial download left')
})

test('mirror over http: verified against the mirror SHA256SUMS, then served from the cache', async (t) => {
  const f = await fixture(t)
  const sums: string[] = []
  const rel = {
    kubelet: 'kubelet/v1.35.4/amd64/kubelet',
    containerd: 'containerd/v2.2.9/amd64/containerd-2.2.9-linux-amd64.tar.gz',
    etcd: 'etcd/v3.6.16/amd64/etcd-v3.6.16-linux-amd64.tar.gz',
  }
  const src = {
    kubelet: '/release/v1.35.4/bin/linux/amd64/kubelet',
    containerd: '/containerd/releases/download/v2.2.9/containerd-2.2.9-linux-amd64.tar.gz',
    etcd: '/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz',
  }
  for (const k of Object.keys(rel) as (keyof typeof rel)[]) {
    f.server.files.set(`/mirror/${rel[k]}`, f.assets.get(src[k])!)
    sums.push(`${sha(f.assets.get(src[k])!)}  ${rel[k]}`)
  }
  f.server.files.set('/mirror/SHA256SUMS', Buffer.from(sums.join('\n') + '\n'))
  const config = await f.load({ source: 'mirror', mirror: `${f.server.url}/mirror/` })
  const artifacts = await resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http })
  assertContents(t, f, artifacts)
  t.true(artifacts.every((a) => a.origin === 'mirror'))
  t.true(f.server.requests.every((r) => r.path.startsWith('/mirror/')), 'nothing went upstream')
  t.is(f.server.requests.filter((r) => r.path === '/mirror/SHA256SUMS').length, 1, 'the manifest is read once')

  f.server.requests.length = 0
  await resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: new HttpClient() })
  t.is(f.server.requests.length, 0)
})

test('mirror directory: same layout on disk', async (t) => {
  const f = await fixture(t)
  const mirror = path.join(f.dir, 'mirror')
  const put = async (rel: string, b: Buffer) => {
    await mkdir(path.dirname(path.join(mirror, rel)), { recursive: true })
    await writeFile(path.join(mirror, rel), b)
    return `${sha(b)}  ${rel}`
  }
  const sums = [
    await put('kubelet/v1.35.4/amd64/kubelet', f.assets.get('/release/v1.35.4/bin/linux/amd64/kubelet')!),
    await put('containerd/v2.2.9/amd64/containerd-2.2.9-linux-amd64.tar.gz', f.assets.get('/containerd/releases/download/v2.2.9/containerd-2.2.9-linux-amd64.tar.gz')!),
    await put('etcd/v3.6.16/amd64/etcd-v3.6.16-linux-amd64.tar.gz', f.assets.get('/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz')!),
  ]
  await writeFile(path.join(mirror, 'SHA256SUMS'), sums.join('\n'))
  const config = await f.load({ source: 'mirror', mirror: 'mirror' }) // relative to the config file
  const artifacts = await resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http })
  assertContents(t, f, artifacts)
  t.is(f.server.requests.length, 0)
})

test('a tampered file is refused, deleted and not installed', async (t) => {
  const f = await fixture(t)
  const k = '/release/v1.35.4/bin/linux/amd64/kubelet'
  const good = f.assets.get(k)!
  const bad = Buffer.from(good)
  bad[1000] = bad[1000]! ^ 0xff
  f.server.files.set(`/mirror/kubelet/v1.35.4/amd64/kubelet`, bad)
  f.server.files.set('/mirror/SHA256SUMS', Buffer.from(`${sha(good)}  kubelet/v1.35.4/amd64/kubelet\n`))
  const config = await f.load({ source: 'mirror', mirror: `${f.server.url}/mirror` })
  const err = await t.throwsAsync(resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http }), { instanceOf: ArtifactError, code: 'ERR_ARTIFACT' })
  t.regex(err!.message, /sha256 mismatch for kubelet v1\.35\.4 \(amd64\)/)
  t.true(err!.message.includes(`expected ${sha(good)}`))
  t.true(err!.message.includes(`actual   ${sha(bad)}`))
  t.false(existsSync(blobPath(f.cache, sha(bad))), 'the tampered bytes are not in the cache')
  t.false(existsSync(blobPath(f.cache, sha(good))))
  t.false(existsSync(indexPath(f.cache, 'amd64', 'kubelet', 'v1.35.4')))
  t.deepEqual(await readdir(path.join(f.cache, 'tmp')), [], 'no partial file left behind')

  // The same with a pin in the lock and a changed upstream file (download).
  const lock = await readFile(path.join(f.dir, 'lock.yaml'), 'utf8')
  await writeFile(path.join(f.dir, 'lock.yaml'), lock.replace('sha256: { amd64: null, arm64: null }   # pinned', `sha256: { amd64: ${sha(good)}, arm64: null }   # pinned`))
  f.server.files.set(k, bad)
  const config2 = await f.load({ source: 'download' })
  await t.throwsAsync(resolveArtifacts(config2, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http }), { instanceOf: ArtifactError, message: /sha256 mismatch for kubelet/ })
  t.false(existsSync(indexPath(f.cache, 'amd64', 'kubelet', 'v1.35.4')))
})

test('an interrupted download resumes with Range and verifies the whole file', async (t) => {
  const f = await fixture(t)
  const k = '/release/v1.35.4/bin/linux/amd64/kubelet'
  f.server.dropMidBody.set(k, 1)
  const config = await f.load({ source: 'download' })
  const artifacts = await resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http })
  assertContents(t, f, artifacts)
  await checkFiles(t, f, artifacts)
  const gets = f.server.requests.filter((r) => r.path === k)
  t.is(gets.length, 2)
  t.is(gets[0]!.range, undefined)
  t.regex(gets[1]!.range ?? '', /^bytes=\d+-$/, 'the second request continues where the first stopped')
  t.true(Number(/\d+/.exec(gets[1]!.range!)![0]) > 0)
})

test('an interrupted download restarts cleanly when the server ignores Range', async (t) => {
  const f = await fixture(t)
  const k = '/release/v1.35.4/bin/linux/amd64/kubelet'
  f.server.dropMidBody.set(k, 2)
  f.server.noRange = true
  const config = await f.load({ source: 'download' })
  const artifacts = await resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http })
  await checkFiles(t, f, artifacts)
  t.is(f.server.requests.filter((r) => r.path === k).length, 3)
})

test('bundle round trip: write from one cache, install into an empty one with no network', async (t) => {
  const f = await fixture(t)
  const config = await f.load({ source: 'download' })
  const bundle = path.join(f.dir, 'out', 'kubelab-bundle.tar')
  const manifest = await writeBundle(config, bundle, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http })
  t.is(manifest.files.length, 5)
  t.true(manifest.files.every((x) => x.assetSha256 !== null && x.origin === 'download'))

  await f.server.close() // no network from here on
  f.server.requests.length = 0
  const cache2 = path.join(f.dir, 'cache2')
  const env2 = { ...f.env, KUBELAB_CACHE: cache2 }
  const bconfig = await f.load({ source: 'bundle', bundle: bundle })
  const http = new HttpClient()
  const artifacts = await resolveArtifacts(bconfig, { arch: 'amd64', progress: f.progress, env: env2, http })
  t.is(http.requests, 0)
  assertContents(t, f, artifacts)
  await checkFiles(t, f, artifacts)
  t.true(artifacts.every((a) => a.origin === 'bundle' && a.path.startsWith(cache2)))

  // A damaged bundle is refused and installs nothing.
  const bytes = await readFile(bundle)
  const at = bytes.indexOf(f.contents.kubelet!.subarray(0, 64))
  t.true(at > 0)
  bytes[at + 10] = bytes[at + 10]! ^ 0xff
  const damaged = path.join(f.dir, 'damaged.tar')
  await writeFile(damaged, bytes)
  const cache3 = path.join(f.dir, 'cache3')
  await t.throwsAsync(openBundle(damaged, { cache: cache3 }), { instanceOf: ArtifactError, message: /sha256 mismatch for files\/kubelet\/v1\.35\.4\/amd64\/kubelet/ })
  t.false(existsSync(path.join(cache3, 'index')), 'no index entry written')
})

test('gzip bundle (-o x.tar.gz) reads back too', async (t) => {
  const f = await fixture(t)
  const config = await f.load({ source: 'download' })
  const bundle = path.join(f.dir, 'b.tar.gz')
  await writeBundle(config, bundle, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http })
  const installed = await openBundle(bundle, { cache: path.join(f.dir, 'c2') })
  t.is(installed.length, 5)
})

test('auto: downloads unreachable and no go -> an error listing the three ways out', async (t) => {
  const f = await fixture(t, { lockBase: 'http://127.0.0.1:9' })
  const config = await f.load({ source: 'auto' })
  const err = await t.throwsAsync(resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: { ...f.env, PATH: path.join(f.dir, 'nobin') }, http: new HttpClient({ attempts: 1 }) }), { instanceOf: ArtifactError })
  t.regex(err!.message, /downloads are unreachable and `go` is not installed/)
  t.regex(err!.hint ?? '', /1\. a mirror.*\n.*2\. a bundle.*\n.*3\. a build/)
})

test('auto: unreachable downloads fall back to the build source; a second run builds nothing', async (t) => {
  const f = await fixture(t, { lockBase: 'http://127.0.0.1:9' })
  const { env, script, counter } = await fakeBuild(f)
  const config = await f.load({ source: 'auto' })
  const opts = { arch: 'amd64' as const, progress: f.progress, env, http: new HttpClient({ attempts: 1 }), buildScript: script }
  const r = await resolveDetailed(config, opts)
  t.is(r.artifacts.length, 5)
  t.true(r.artifacts.every((a) => a.origin === 'build'))
  t.deepEqual(r.builds.map((b) => `${b.build}:${b.action}`), ['kubernetes:built', 'containerd:built', 'etcd:built'])
  const lock = await readBuildLock(f.cache)
  t.is(lock.builds['kubernetes-v1.35.4-amd64']!.files.kubelet!.versionOutput, 'kubelet v1.35.4')
  t.is(lock.builds['etcd-v3.6.16-amd64']!.files.etcdctl!.versionOutput, 'etcdctl v3.6.16')
  t.regex(f.logs.join(''), /downloads unreachable .*building from Go modules/)

  const http = new HttpClient()
  const again = await resolveDetailed(config, { ...opts, http })
  t.is(http.requests, 0, 'warm: no network, not even a reachability probe')
  t.deepEqual(again.builds, [])
  t.is((await readFile(counter, 'utf8')).trim().split('\n').length, 3, 'build.sh ran once per component')
})

test('uploadAll: each node gets what its role needs, in parallel, skipping is the runner\'s call', async (t) => {
  const f = await fixture(t)
  const config = await f.load({ source: 'download' })
  const artifacts = await resolveArtifacts(config, { arch: 'amd64', progress: f.progress, env: f.env, http: f.http })
  const calls: string[] = []
  let inFlight = 0
  let peak = 0
  const runner = (node: string) => ({
    upload: async (local: string, remote: string, sha256: string) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await new Promise((r) => setTimeout(r, 5))
      inFlight--
      calls.push(`${node} ${remote}`)
      t.is(sha(await readFile(local)), sha256)
      return remote.endsWith('/ctr') ? 'skipped' as const : 'sent' as const
    },
  })
  const results = await uploadAll([
    { name: 'cp', role: 'control-plane', runner: runner('cp') },
    { name: 'w1', role: 'worker', runner: runner('w1') },
  ], artifacts, 3)
  t.deepEqual(calls.filter((c) => c.startsWith('w1')).sort(), ['w1 /usr/local/bin/containerd', 'w1 /usr/local/bin/ctr', 'w1 /usr/local/bin/kubelet'])
  t.is(calls.filter((c) => c.startsWith('cp')).length, 5)
  t.is(peak, 3)
  t.is(results.filter((r) => r.result === 'skipped').length, 2)

  const failing = { upload: async () => { throw new Error('disk full') } }
  await t.throwsAsync(uploadAll([{ name: 'w9', role: 'worker', runner: failing }], artifacts, 2), { instanceOf: StepError, code: 'ERR_STEP', message: /artifacts:upload failed on w9/ })
})

test('kubelab artifacts lock fills null pins from upstream checksum files and never overwrites a pin', async (t) => {
  const f = await fixture(t)
  const cfg = await f.configFile({ source: 'download' })
  const lockFile = path.join(f.dir, 'lock.yaml')
  const r = await kubelab(['artifacts', 'lock', '-c', cfg, '--json'], { env: f.env })
  t.is(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout) as { results: { component: string; arch: string; status: string; sha256: string }[] }
  t.is(out.results.length, 6)
  t.true(out.results.every((x) => x.status === 'pinned'))
  const text = await readFile(lockFile, 'utf8')
  t.true(text.includes('# test lock: plays the shipped one'), 'comments kept')
  t.true(text.includes(`amd64: ${sha(f.assets.get('/release/v1.35.4/bin/linux/amd64/kubelet')!)}`))
  t.true(text.includes(`arm64: ${sha(f.assets.get('/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-arm64.tar.gz')!)}`))

  const again = await kubelab(['artifacts', 'lock', '-c', cfg], { env: f.env })
  t.is(again.code, 0, again.stderr)
  t.regex(again.stderr, /0 pinned, 6 unchanged/)

  // Upstream changes a file: the pin is kept and the command fails loudly.
  const changed = randomBytes(10)
  f.server.files.set('/release/v1.35.4/bin/linux/amd64/kubelet.sha256', Buffer.from(`${sha(changed)}\n`))
  const bad = await kubelab(['artifacts', 'lock', '-c', cfg], { env: f.env })
  t.is(bad.code, 1)
  t.regex(bad.stderr, /ERR_ARTIFACT.*1 lock entry not pinned \(1 mismatch\)/)
  t.regex(bad.stderr, /kubelet v1\.35\.4 amd64: mismatch: lock has [0-9a-f]{64}, upstream publishes/)
  t.true((await readFile(lockFile, 'utf8')).includes(sha(f.assets.get('/release/v1.35.4/bin/linux/amd64/kubelet')!)), 'pin unchanged')
})

test('kubelab artifacts list --json and bundle -o through the CLI', async (t) => {
  const f = await fixture(t)
  const cfg = await f.configFile({ source: 'download' })
  const before = await kubelab(['artifacts', 'list', '-c', cfg, '--json', '--arch', 'amd64'], { env: f.env })
  t.is(before.code, 0, before.stderr)
  const rows = (JSON.parse(before.stdout) as { artifacts: { file: string; status: string }[] }).artifacts
  t.deepEqual(rows.map((x) => x.file), ['kubelet', 'containerd', 'ctr', 'etcd', 'etcdctl'])
  t.true(rows.every((x) => x.status === 'missing'))
  t.is(f.server.requests.length, 0, 'list never fetches')

  const out = path.join(f.dir, 'b.tar')
  const b = await kubelab(['bundle', '-c', cfg, '-o', out, '--arch', 'amd64'], { env: f.env })
  t.is(b.code, 0, b.stderr)
  t.regex(b.stderr, /✓ Writing bundle .* {2}5 files/)
  const after = await kubelab(['artifacts', 'list', '-c', cfg, '--json'], { env: f.env })
  t.true((JSON.parse(after.stdout) as { artifacts: { status: string }[] }).artifacts.every((x) => x.status === 'cached'))
  const usage = await kubelab(['bundle', '-c', cfg], { env: f.env })
  t.is(usage.code, 2)
  t.regex(usage.stderr, /bundle needs -o FILE/)
})
