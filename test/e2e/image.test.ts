// `kubelab image load` / `image ls` on an nspawn cluster (1 control plane + 2 workers): the test
// writes a docker-save archive itself (Debian's busybox-static in one layer, legacy docker format),
// loads it, runs a pod with imagePullPolicy: Never on every worker, loads it again (every node
// skips it), lists it on every node, refuses a file that is no image (exit 2, file named) and
// imports a second image only where --node says; an image only podman has is loaded by its REF.
import test from 'ava'
import { createHash } from 'node:crypto'
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { cacheDir } from '../../scripts/lib/artifacts/cache.ts'
import { tarChunks, tarStream, type TarEntry } from '../../scripts/lib/artifacts/tar.ts'
import { OTHER_ADDONS_OFF } from '../helpers/addons.ts'
import { kubelab } from '../helpers/cli.ts'
import { ROOT } from '../helpers/paths.ts'

const run = promisify(execFile)
const name = `klimg${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-image-e2e-'))
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: path.join(work, 'state'), KUBELAB_EGRESS: 'off' }
const base = parse(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8')) as Record<string, unknown>
writeFileSync(config, JSON.stringify({ ...base, name, provider: { type: 'nspawn', network: '10.86.0.0/24' }, addons: { ...base.addons as object, ...OTHER_ADDONS_OFF } }))
const NODES = ['control-plane', 'worker-1', 'worker-2']

/** Debian's busybox-static as the testbox build unpacked it into the cache (`up` builds it when missing). */
function busybox(): string {
  const build = path.join(cacheDir(), 'build')
  const dir = readdirSync(build).find((d) => d.startsWith('busybox-static-') && existsSync(path.join(build, d, 'bin', 'busybox')))
  if (!dir) throw new Error(`no busybox-static in ${build}`)
  return path.join(build, dir, 'bin', 'busybox')
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function bufferOf(entries: TarEntry[]): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of tarChunks(entries)) parts.push(c)
  return Buffer.concat(parts)
}

/** A legacy `docker save` archive of one image: manifest.json, repositories, <id>/layer.tar, <config>.json. */
async function dockerSave(file: string, tag: string, marker: string): Promise<void> {
  const layer = await bufferOf([
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', source: busybox(), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'marker', content: Buffer.from(marker) },
  ])
  const diffId = sha(layer)
  const cfg = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux',
    config: { Entrypoint: ['/bin/busybox'], Cmd: ['sleep', '3600'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
  }))
  const cfgHex = sha(cfg)
  const [repo, t] = [tag.slice(0, tag.lastIndexOf(':')), tag.slice(tag.lastIndexOf(':') + 1)]
  await pipeline(tarStream([
    { name: `${diffId}/`, type: 'dir' },
    { name: `${diffId}/VERSION`, content: Buffer.from('1.0') },
    { name: `${diffId}/json`, content: Buffer.from(JSON.stringify({ id: diffId })) },
    { name: `${diffId}/layer.tar`, content: layer },
    { name: `${cfgHex}.json`, content: cfg },
    { name: 'manifest.json', content: Buffer.from(JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: [tag], Layers: [`${diffId}/layer.tar`] }])) },
    { name: 'repositories', content: Buffer.from(JSON.stringify({ [repo]: { [t]: diffId } })) },
  ]), createWriteStream(file))
}

const APP = 'kubelab.test/app:e2e'
const ONLY = 'kubelab.test/app:only-worker-1'
const FROM_PODMAN = 'kubelab.test/app:from-podman'
const kubectl = (args: string[]) => kubelab(['kubectl', '-c', config, '--', ...args], { env })
type Listing = { nodes: { name: string; images: { ref: string; digest: string; size: string }[] }[] }
const ls = async () => {
  const r = await kubelab(['image', 'ls', '-c', config, '--json'], { env })
  if (r.code !== 0) throw new Error(`image ls failed (${r.code}): ${r.stderr}`)
  return JSON.parse(r.stdout) as Listing
}

test.after.always(async () => {
  await run('podman', ['rmi', '--force', FROM_PODMAN]).catch(() => undefined)
  await kubelab(['down', '-c', config], { env, timeoutMs: 300_000 })
  rmSync(work, { recursive: true, force: true })
})

test.serial('up: 1 control plane + 2 workers', async (t) => {
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 900_000 })
  t.is(up.code, 0, up.stderr)
})

test.serial('image load app.tar: imported on every node, a pod with imagePullPolicy Never runs on each worker', async (t) => {
  const tar = path.join(work, 'app.tar')
  await dockerSave(tar, APP, 'e2e')
  const r = await kubelab(['image', 'load', '-c', config, tar], { env, timeoutMs: 300_000 })
  t.is(r.code, 0, r.stderr)
  t.log(r.stderr.trim())
  t.regex(r.stderr, /✓ kubelab\.test\/app:e2e .*3 nodes, 3 imported, 0 already had it/, r.stderr)
  for (const node of ['worker-1', 'worker-2']) {
    const pod = `app-${node}`
    const manifest = { apiVersion: 'v1', kind: 'Pod', metadata: { name: pod }, spec: { nodeName: node, containers: [{ name: 'app', image: APP, imagePullPolicy: 'Never' }] } }
    const file = path.join(work, `${pod}.json`)
    writeFileSync(file, JSON.stringify(manifest))
    const apply = await kubectl(['apply', '-f', file])
    t.is(apply.code, 0, apply.stderr)
  }
  for (const node of ['worker-1', 'worker-2']) {
    const w = await kubelab(['kubectl', '-c', config, '--', 'wait', '--for=condition=Ready', `pod/app-${node}`, '--timeout=180s'], { env, timeoutMs: 200_000 })
    const why = w.code === 0 ? '' : (await kubectl(['describe', 'pod', `app-${node}`])).stdout
    t.is(w.code, 0, `${w.stderr}\n${why}`)
  }
  const marker = await kubectl(['exec', 'app-worker-2', '--', '/bin/busybox', 'cat', '/marker'])
  t.is(marker.stdout.trim(), 'e2e', marker.stderr)
})

test.serial('a second load skips every node, and image ls lists it on every node at one digest', async (t) => {
  const r = await kubelab(['image', 'load', '-c', config, path.join(work, 'app.tar')], { env, timeoutMs: 300_000 })
  t.is(r.code, 0, r.stderr)
  t.log(r.stderr.trim())
  t.regex(r.stderr, /3 nodes, 0 imported, 3 already had it/, r.stderr)
  const listing = await ls()
  t.deepEqual(listing.nodes.map((n) => n.name), NODES)
  const digests = listing.nodes.map((n) => n.images.find((i) => i.ref === APP)?.digest)
  t.true(digests.every((d) => d !== undefined && /^sha256:[0-9a-f]{64}$/.test(d)), JSON.stringify(listing))
  t.is(new Set(digests).size, 1)
  const text = await kubelab(['image', 'ls', '-c', config], { env })
  t.is(text.code, 0, text.stderr)
  t.regex(text.stdout, /^NODE\s+REF\s+DIGEST\s+SIZE/)
  t.log(text.stdout.split('\n').filter((l) => l.startsWith('NODE') || l.includes('kubelab.test')).join('\n'))
})

test.serial('a file that is not an image is refused with exit code 2, the file named', async (t) => {
  const file = path.join(work, 'notes.txt')
  writeFileSync(file, 'just some text, long enough to be more than nothing\n'.repeat(20))
  const r = await kubelab(['image', 'load', '-c', config, file], { env })
  t.is(r.code, 2, r.stderr)
  t.log(r.stderr.trim())
  t.regex(r.stderr, /notes\.txt: not a tar/)
  const r2 = await kubelab(['image', 'load', '-c', config, 'kubelab.test/nope:1'], { env })
  t.is(r2.code, 2, r2.stderr)
  t.regex(r2.stderr, /kubelab\.test\/nope:1: no such file.*docker, podman, nerdctl/)
})

test.serial('--node worker-1 imports only there', async (t) => {
  const tar = path.join(work, 'only.tar')
  await dockerSave(tar, ONLY, 'only')
  const r = await kubelab(['image', 'load', '-c', config, tar, '--node', 'worker-1'], { env, timeoutMs: 300_000 })
  t.is(r.code, 0, r.stderr)
  t.log(r.stderr.trim())
  t.regex(r.stderr, /1 node, 1 imported, 0 already had it/, r.stderr)
  const listing = await ls()
  t.deepEqual(listing.nodes.filter((n) => n.images.some((i) => i.ref === ONLY)).map((n) => n.name), ['worker-1'])
})

test.serial('image load REF: an image only podman has is saved by podman and imported; a pod runs it with imagePullPolicy Never', async (t) => {
  const which = await run('sh', ['-c', 'command -v podman']).catch(() => undefined)
  if (!which) return t.fail('podman is not installed (.ci/run installs it: apt-get install podman)')
  const tar = path.join(work, 'podman.tar')
  await dockerSave(tar, FROM_PODMAN, 'podman')
  await run('podman', ['load', '-q', '-i', tar])
  rmSync(tar)
  const r = await kubelab(['image', 'load', '-c', config, FROM_PODMAN, '--node', 'worker-2'], { env, timeoutMs: 300_000 })
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /Saving kubelab\.test\/app:from-podman with podman/, r.stderr)
  t.regex(r.stderr, /1 node, 1 imported, 0 already had it/, r.stderr)
  const manifest = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'from-podman' }, spec: { nodeName: 'worker-2', containers: [{ name: 'app', image: FROM_PODMAN, imagePullPolicy: 'Never', command: ['/bin/busybox', 'sleep', '3600'] }] } }
  writeFileSync(path.join(work, 'from-podman.json'), JSON.stringify(manifest))
  t.is((await kubectl(['apply', '-f', path.join(work, 'from-podman.json')])).code, 0)
  const w = await kubelab(['kubectl', '-c', config, '--', 'wait', '--for=condition=Ready', 'pod/from-podman', '--timeout=180s'], { env, timeoutMs: 200_000 })
  t.is(w.code, 0, w.stderr)
  t.is((await kubectl(['exec', 'from-podman', '--', '/bin/busybox', 'cat', '/marker'])).stdout.trim(), 'podman')
})
