// The OCI image writer and the tar format under it: every blob's digest and size recomputed from
// the tar, the layer's diff_id, the index annotations, determinism, and that GNU tar reads ours
// (and we read GNU tar's) where `tar` is installed.
import test from 'ava'
import { readTarEntries, tempDir } from '../helpers/files.ts'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { writeOciImage } from '../../scripts/lib/artifacts/oci.ts'
import { tarChunks } from '../../scripts/lib/artifacts/tar.ts'

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = []
  for await (const c of it) out.push(c)
  return out
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const hasTar = (() => { try { execFileSync('tar', ['--version']); return true } catch { return false } })()

test('writeOciImage: digests, sizes, diff_id and annotations all check out', async (t) => {
  const dir = await tempDir(t, 'kubelab-oci-test-')
  const bin = path.join(dir, 'pause')
  await writeFile(bin, Buffer.alloc(70_000, 7))
  const out = path.join(dir, 'pause.tar')
  const r = await writeOciImage({
    ref: 'registry.k8s.io/pause:3.10.1',
    files: [{ path: '/pause', source: bin, mode: 0o755 }, { path: 'etc/pause/conf', content: 'x=1\n', mode: 0o644 }],
    entrypoint: ['/pause'],
    user: '65535:65535',
  }, out)
  const entries = await readTarEntries(createReadStream(out))
  t.deepEqual([...entries.keys()].filter((k) => !k.endsWith('/')).sort(), [
    ...[r.config.digest, r.layer.digest, r.manifest.digest].map((d) => `blobs/sha256/${d.slice(7)}`).sort(),
    'index.json', 'oci-layout',
  ].sort())
  t.deepEqual(JSON.parse(entries.get('oci-layout')!.body.toString()), { imageLayoutVersion: '1.0.0' })
  // Every blob's name is its content's sha256.
  for (const [name, e] of entries) if (name.startsWith('blobs/sha256/') && e.h.type === 'file') t.is(sha(e.body), name.slice('blobs/sha256/'.length), name)

  const blob = (d: string) => entries.get(`blobs/sha256/${d.replace('sha256:', '')}`)!.body
  const index = JSON.parse(entries.get('index.json')!.body.toString())
  t.is(index.schemaVersion, 2)
  const md = index.manifests[0]
  t.is(md.digest, r.manifest.digest)
  t.is(md.size, blob(md.digest).length)
  t.is(md.annotations['io.containerd.image.name'], 'registry.k8s.io/pause:3.10.1')
  t.is(md.annotations['org.opencontainers.image.ref.name'], '3.10.1')
  t.deepEqual(md.platform, { architecture: 'amd64', os: 'linux' })

  const manifest = JSON.parse(blob(md.digest).toString())
  t.is(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json')
  t.is(manifest.config.size, blob(manifest.config.digest).length)
  t.is(manifest.layers[0].size, blob(manifest.layers[0].digest).length)
  const config = JSON.parse(blob(manifest.config.digest).toString())
  t.deepEqual(config.config.Entrypoint, ['/pause'])
  t.is(config.config.User, '65535:65535')
  // Uncompressed layer: diff_id == sha256 of the layer bytes == its digest.
  const layerBytes = blob(manifest.layers[0].digest)
  t.deepEqual(config.rootfs.diff_ids, [`sha256:${sha(layerBytes)}`])
  t.is(r.diffId, manifest.layers[0].digest)

  // The layer: sorted, parents present, uid 0, mtime 0, content intact.
  const layer = await readTarEntries(Readable.from([layerBytes]))
  t.deepEqual([...layer.keys()], ['etc/', 'etc/pause/', 'etc/pause/conf', 'pause'])
  t.is(layer.get('pause')!.h.mode & 0o777, 0o755)
  t.true(layer.get('pause')!.body.equals(await readFile(bin)))
  t.is(layer.get('etc/pause/conf')!.body.toString(), 'x=1\n')
  t.is(layerBytes.readUInt8(136), '0'.charCodeAt(0), 'mtime field is zeros')
})

test('writeOciImage is deterministic: same input, same digests', async (t) => {
  const dir = await tempDir(t, 'kubelab-oci-test-')
  const spec = { ref: 'example.invalid/coredns:v1.14.7', files: [{ path: '/coredns', content: Buffer.from('binary') }], entrypoint: ['/coredns'] }
  const a = await writeOciImage(spec, path.join(dir, 'a.tar'))
  await new Promise((r) => setTimeout(r, 1100)) // a different second, in case anything used the clock
  const b = await writeOciImage(spec, path.join(dir, 'b.tar'))
  t.deepEqual(a, b)
  t.true((await readFile(path.join(dir, 'a.tar'))).equals(await readFile(path.join(dir, 'b.tar'))))
})

test('tar: long names (prefix and pax) round-trip through our reader', async (t) => {
  const long = `${'d'.repeat(120)}/${'f'.repeat(90)}`
  const longer = `${'x'.repeat(200)}/${'y'.repeat(120)}`
  const bytes = Buffer.concat(await collect(tarChunks([
    { name: long, content: Buffer.from('one') },
    { name: longer, content: Buffer.from('two') },
    { name: 'short', content: Buffer.alloc(1025, 1) },
  ])))
  t.is(bytes.length % 512, 0)
  const back = await readTarEntries(Readable.from([bytes]))
  t.is(back.get(long)!.body.toString(), 'one')
  t.is(back.get(longer)!.body.toString(), 'two')
  t.is(back.get('short')!.body.length, 1025)
})

test('tar: GNU tar lists what we write, and we read what GNU tar writes (gzip too)', async (t) => {
  if (!hasTar) return t.pass('no tar binary here')
  const dir = await tempDir(t, 'kubelab-oci-test-')
  const ours = path.join(dir, 'ours.tar')
  const long = `${'p'.repeat(130)}/file`
  await writeFile(ours, Buffer.concat(await collect(tarChunks([{ name: 'a/b', content: Buffer.from('hi') }, { name: long, content: Buffer.from('x') }]))))
  t.deepEqual(execFileSync('tar', ['-tf', ours]).toString().trim().split('\n'), ['a/b', long])
  await writeFile(path.join(dir, 'member'), 'gnu')
  execFileSync('tar', ['-czf', path.join(dir, 'gnu.tgz'), '-C', dir, './member'])
  const back = await readTarEntries(createReadStream(path.join(dir, 'gnu.tgz')))
  t.is(back.get('member')!.body.toString(), 'gnu')
})

test('writeOciImage: eight writers of one image at once all succeed into one whole tar, no temp left', async (t) => {
  const dir = await tempDir(t, 'kubelab-oci-test-')
  const bin = path.join(dir, 'pause')
  await writeFile(bin, Buffer.alloc(3_000_000, 7))
  const out = path.join(dir, 'images', 'pause.tar')
  const spec = { ref: 'registry.k8s.io/pause:3.10.1', files: [{ path: '/pause', source: bin, mode: 0o755 }], entrypoint: ['/pause'] }
  const results = await Promise.all(Array.from({ length: 8 }, () => writeOciImage(spec, out)))
  t.is(new Set(results.map((r) => r.manifest.digest)).size, 1)
  const alone = path.join(dir, 'alone.tar')
  await writeOciImage(spec, alone)
  t.is(sha(await readFile(out)), sha(await readFile(alone)), 'the shared tar is whole: the same bytes as one writer alone')
  t.deepEqual(await readdir(path.dirname(out)), ['pause.tar'])
})
