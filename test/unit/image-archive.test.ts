// lib/images/archive.ts against archives this test writes by hand (the project's tar writer and
// node:zlib; not kubelab's OCI writer): legacy docker save, docker 25+ (OCI inside docker save,
// gzipped), an OCI layout with a multi-platform index where only amd64 is complete; what is not an
// image refused with the file and the reason; pinning keeps only the nodes' platform; the pinned
// tar read back by GNU tar. Also `ctr images ls` parsing and reference normalisation.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { tarChunks, type TarEntry } from '../../scripts/lib/artifacts/tar.ts'
import { UsageError } from '../../scripts/lib/errors.ts'
import { archOf, closeArchive, normalizeRef, pinArchive, readArchive, writePinned, type Archive } from '../../scripts/lib/images/archive.ts'
import { parseCtrImages } from '../../scripts/lib/images/load.ts'

const work = mkdtempSync(path.join(tmpdir(), 'kubelab-image-unit-'))
test.after.always(() => rmSync(work, { recursive: true, force: true }))

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of tarChunks(entries)) parts.push(c)
  return Buffer.concat(parts)
}
let n = 0
function file(content: Buffer | string): string {
  const f = path.join(work, `f${n++}`)
  writeFileSync(f, content)
  return f
}
const open: Archive[] = []
test.after.always(async () => { await Promise.all(open.map(closeArchive)) })
async function read(f: string, name?: string): Promise<Archive> {
  const a = await readArchive(f, path.basename(f), name)
  open.push(a)
  return a
}

/** A layer, its config and manifest as OCI blobs, for `arch`. */
async function ociImage(arch: string, marker: string) {
  const layer = await tarOf([{ name: 'marker', content: Buffer.from(marker) }])
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] } }))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(layer)}`, size: layer.length }],
  }))
  const blobs = [layer, config, manifest]
  return {
    manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length, platform: { os: 'linux', architecture: arch } },
    blobs,
    entries: blobs.map((b): TarEntry => ({ name: `blobs/sha256/${sha(b)}`, content: b })),
  }
}

/** An OCI layout whose index.json names one multi-platform index: amd64 complete, arm64 only listed. */
async function multiPlatform(): Promise<{ file: string; amd64: string; arm64: string; armBlobs: string[] }> {
  const amd = await ociImage('amd64', 'amd')
  const arm = await ociImage('arm64', 'arm')
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [amd.manifest, { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }] }))
  const top = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${sha(index)}`, size: index.length, annotations: { 'io.containerd.image.name': 'example.org/multi/app:2', 'org.opencontainers.image.ref.name': '2' } }] }
  const tar = await tarOf([
    { name: 'oci-layout', content: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', content: Buffer.from(JSON.stringify(top)) },
    { name: 'blobs/sha256/', type: 'dir' },
    ...amd.entries,
    { name: `blobs/sha256/${sha(index)}`, content: index },
    // arm64: only its layer; the manifest and config are not in the archive (kind's "content digest not found").
    arm.entries[0]!,
  ])
  return { file: file(tar), amd64: amd.manifest.digest, arm64: arm.manifest.digest, armBlobs: arm.blobs.map((b) => `sha256:${sha(b)}`) }
}

/** A legacy `docker save`: manifest.json, repositories, <id>/layer.tar (and a symlinked duplicate), <config>.json. */
async function legacyDockerSave(arch = 'amd64', tags: string[] | null = ['app:1']): Promise<Buffer> {
  const layer = await tarOf([{ name: 'bin/', type: 'dir' }, { name: 'bin/hello', content: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 }])
  const id = sha(layer)
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['/bin/hello'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${id}`] } }))
  return tarOf([
    { name: `${id}/`, type: 'dir' },
    { name: `${id}/VERSION`, content: Buffer.from('1.0') },
    { name: `${id}/layer.tar`, content: layer },
    { name: 'dup/', type: 'dir' },
    { name: 'dup/layer.tar', type: 'symlink', linkname: `../${id}/layer.tar` },
    { name: `${sha(config)}.json`, content: config },
    { name: 'manifest.json', content: Buffer.from(JSON.stringify([{ Config: `${sha(config)}.json`, RepoTags: tags, Layers: [`${id}/layer.tar`, 'dup/layer.tar'] }])) },
    { name: 'repositories', content: Buffer.from(JSON.stringify({ app: { 1: id } })) },
  ])
}

/** Reads back a pinned tar with GNU tar: its names and its index.json. */
function gnuRead(tar: string): { names: string[]; index: { manifests: { digest: string; annotations: Record<string, string> }[] } } {
  const names = execFileSync('tar', ['-tf', tar], { encoding: 'utf8' }).trim().split('\n')
  const index = JSON.parse(execFileSync('tar', ['-xOf', tar, 'index.json'], { encoding: 'utf8' }))
  for (const name of names.filter((x) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(x))) {
    const content = execFileSync('tar', ['-xOf', tar, name])
    if (sha(content) !== name.slice('blobs/sha256/'.length)) throw new Error(`${name} does not match its digest`)
  }
  return { names, index }
}

test('a legacy docker save: named, normalised, pinned to a manifest of its config and layers; symlinked layers followed', async (t) => {
  const a = await read(file(await legacyDockerSave()))
  t.is(a.format, 'docker')
  t.deepEqual(a.images.map((i) => i.refs), [['docker.io/library/app:1']])
  const [p] = await pinArchive(a, 'amd64')
  t.regex(p!.manifest.digest, /^sha256:[0-9a-f]{64}$/)
  t.is(p!.manifest.digest, `sha256:${sha(p!.manifestBytes)}`)
  const m = JSON.parse(p!.manifestBytes.toString()) as { layers: { digest: string }[] }
  t.is(m.layers.length, 2)
  t.is(m.layers[0]!.digest, m.layers[1]!.digest, 'the symlinked layer is the same layer')
  // Pinning again gives the same digest (a second load can compare it with ctr images ls).
  t.is((await pinArchive(a, 'amd64'))[0]!.manifest.digest, p!.manifest.digest)
  const out = path.join(work, 'pinned-docker.tar')
  await writePinned(a, [p!], out)
  const back = gnuRead(out)
  t.true(back.names.includes('oci-layout'))
  t.deepEqual(back.index.manifests.map((d) => [d.digest, d.annotations['io.containerd.image.name']]), [[p!.manifest.digest, 'docker.io/library/app:1']])
  t.is(back.names.filter((x) => x.startsWith('blobs/sha256/') && x.length > 14).length, 3, 'manifest, config, one layer')
})

test('a docker 25+ save (OCI layout inside, gzipped): names from the index annotations and manifest.json', async (t) => {
  const img = await ociImage('amd64', 'd25')
  const configName = `blobs/sha256/${sha(img.blobs[1]!)}`
  const tar = await tarOf([
    { name: 'blobs/', type: 'dir' }, { name: 'blobs/sha256/', type: 'dir' }, ...img.entries,
    { name: 'index.json', content: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...img.manifest, annotations: { 'io.containerd.image.name': 'docker.io/library/web:3', 'org.opencontainers.image.ref.name': '3' } }] })) },
    { name: 'manifest.json', content: Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['web:3', 'web:latest'], Layers: [img.entries[0]!.name] }])) },
    { name: 'oci-layout', content: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
  ])
  const a = await read(file(gzipSync(tar)))
  t.is(a.format, 'oci')
  t.deepEqual(a.images.map((i) => i.refs), [['docker.io/library/web:3', 'docker.io/library/web:latest']])
  const [p] = await pinArchive(a, 'amd64')
  t.is(p!.manifest.digest, img.manifest.digest, 'the archive\'s own manifest digest is kept')
})

test('a multi-platform index: amd64 kept alone (arm64 dropped), arm64 refused as incomplete, s390x as absent', async (t) => {
  const mp = await multiPlatform()
  const a = await read(mp.file)
  t.deepEqual(a.images.map((i) => i.refs), [['example.org/multi/app:2']])
  const [p] = await pinArchive(a, 'amd64')
  t.is(p!.manifest.digest, mp.amd64)
  const out = path.join(work, 'pinned-multi.tar')
  await writePinned(a, [p!], out)
  const back = gnuRead(out)
  t.deepEqual(back.index.manifests.map((d) => d.digest), [mp.amd64], 'index.json names the amd64 manifest itself, no index')
  for (const d of [mp.arm64, ...mp.armBlobs.slice(1)]) t.false(back.names.includes(`blobs/sha256/${d.slice(7)}`), `${d} left out`)
  t.is(back.names.filter((x) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(x)).length, 3, 'only the amd64 manifest, config and layer')
  const arm = await t.throwsAsync(pinArchive(a, 'arm64'), { instanceOf: UsageError })
  t.regex(arm!.message, /linux\/arm64 manifest sha256:[0-9a-f]+ is not in the archive/)
  const s390 = await t.throwsAsync(pinArchive(a, 's390x'), { instanceOf: UsageError })
  t.regex(s390!.message, /has no linux\/s390x image \(it has: linux\/amd64, linux\/arm64\/v8\)/)
})

test('not an image: refused with the file name and why', async (t) => {
  const cases: [string, Buffer, RegExp][] = [
    ['notes.txt', Buffer.from('hello, this is text\n'.repeat(40)), /^notes\.txt: not a tar or gzipped tar/],
    ['empty.tar', Buffer.alloc(0), /^empty\.tar: not a tar/],
    ['notes.txt.gz', gzipSync(Buffer.from('hello\n'.repeat(200))), /^notes\.txt\.gz: not a tar/],
    ['plain.tar', await tarOf([{ name: 'README', content: Buffer.from('hi') }]), /^plain\.tar: a tar without manifest\.json or index\.json/],
    ['badjson.tar', await tarOf([{ name: 'manifest.json', content: Buffer.from('{nope') }]), /^badjson\.tar: manifest\.json is not valid JSON/],
  ]
  for (const [name, content, re] of cases) {
    const f = path.join(work, name)
    writeFileSync(f, content)
    const err = await t.throwsAsync(readArchive(f, name), { instanceOf: UsageError, code: 'ERR_USAGE' })
    t.regex(err!.message, re, name)
  }
  const missing = await t.throwsAsync(readArchive(path.join(work, 'nope.tar'), 'nope.tar'), { instanceOf: UsageError })
  t.regex(missing!.message, /^nope\.tar: cannot read it/)
})

test('an image saved by id has no name: refused, unless the ref it was saved by is given', async (t) => {
  const f = file(await legacyDockerSave('amd64', null))
  const err = await t.throwsAsync(readArchive(f, 'byid.tar'), { instanceOf: UsageError })
  t.regex(err!.message, /^byid\.tar: an image in it has no name/)
  const a = await read(f, 'registry.local:5000/team/app:7')
  t.deepEqual(a.images.map((i) => i.refs), [['registry.local:5000/team/app:7']])
})

test('incomplete, corrupt or foreign-platform images are refused when pinned', async (t) => {
  const img = await ociImage('amd64', 'x')
  const index = (d: object) => ({ name: 'index.json', content: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...d, annotations: { 'io.containerd.image.name': 'example.org/a:1' } }] })) })
  // The layer is missing.
  const noLayer = await read(file(await tarOf([index(img.manifest), ...img.entries.slice(1)])))
  t.regex((await t.throwsAsync(pinArchive(noLayer, 'amd64'), { instanceOf: UsageError }))!.message, /example\.org\/a:1: linux\/amd64 is incomplete, blob sha256:[0-9a-f]+ is missing/)
  // A blob whose content does not match its digest.
  const corrupt = await read(file(await tarOf([index(img.manifest), { ...img.entries[0]!, content: Buffer.from('other') }, ...img.entries.slice(1)])))
  t.regex((await t.throwsAsync(pinArchive(corrupt, 'amd64'), { instanceOf: UsageError }))!.message, /does not match its digest/)
  // A single-platform arm64 image for amd64 nodes.
  const arm = await ociImage('arm64', 'y')
  const foreign = await read(file(await tarOf([index(arm.manifest), ...arm.entries])))
  t.regex((await t.throwsAsync(pinArchive(foreign, 'amd64'), { instanceOf: UsageError }))!.message, /example\.org\/a:1 is linux\/arm64, the nodes are linux\/amd64/)
  const legacyArm = await read(file(await legacyDockerSave('arm64')))
  t.regex((await t.throwsAsync(pinArchive(legacyArm, 'amd64'), { instanceOf: UsageError }))!.message, /is linux\/arm64, the nodes are linux\/amd64/)
})

test('references normalised as kubelet and CRI name them; uname -m as an architecture', (t) => {
  t.is(normalizeRef('app'), 'docker.io/library/app:latest')
  t.is(normalizeRef('app:1'), 'docker.io/library/app:1')
  t.is(normalizeRef('team/app:1'), 'docker.io/team/app:1')
  t.is(normalizeRef('docker.io/app:1'), 'docker.io/library/app:1')
  t.is(normalizeRef('registry.local:5000/app'), 'registry.local:5000/app:latest')
  t.is(normalizeRef('localhost/app:2'), 'localhost/app:2')
  t.is(normalizeRef('kubelab.test/app:e2e'), 'kubelab.test/app:e2e')
  t.is(normalizeRef(`app@sha256:${'a'.repeat(64)}`), `docker.io/library/app@sha256:${'a'.repeat(64)}`)
  t.is(archOf('x86_64\n'), 'amd64')
  t.is(archOf('aarch64'), 'arm64')
})

test('ctr images ls parsed: ref, digest, size with its unit, platforms; CRI id aliases left out', (t) => {
  const d1 = `sha256:${'1'.repeat(64)}`
  const d2 = `sha256:${'2'.repeat(64)}`
  const text = [
    'REF                               TYPE                                       DIGEST   SIZE      PLATFORMS   LABELS',
    `docker.io/library/app:1           application/vnd.oci.image.manifest.v1+json ${d1} 1.1 MiB   linux/amd64 io.cri-containerd.image=managed`,
    `registry.k8s.io/pause:3.10.1      application/vnd.oci.image.manifest.v1+json ${d2} 300.0 KiB linux/amd64 -`,
    `sha256:${'3'.repeat(64)} application/vnd.oci.image.manifest.v1+json ${d2} 300.0 KiB linux/amd64 -`,
  ].join('\n')
  t.deepEqual(parseCtrImages(text), [
    { ref: 'docker.io/library/app:1', digest: d1, size: '1.1 MiB', platforms: 'linux/amd64' },
    { ref: 'registry.k8s.io/pause:3.10.1', digest: d2, size: '300.0 KiB', platforms: 'linux/amd64' },
  ])
  t.deepEqual(parseCtrImages(''), [])
})
