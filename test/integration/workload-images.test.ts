// The testbox image built for real into an empty cache: busybox-static fetched with apt-get from
// the host's apt sources and unpacked (not installed), probe built by build.sh; then the binaries
// read back out of the image's layer and run here: every linked applet is one busybox really has,
// probe serves its hostname and /healthz on 127.0.0.1 and `probe get` exits by status. A second
// ensure is a cache hit with the same digest.
import test from 'ava'
import { execFile, spawn } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { readTar } from '../../scripts/lib/artifacts/tar.ts'
import { ensureTestboxImage, TESTBOX_APPLETS, TESTBOX_IMAGE } from '../../scripts/lib/images/workloads.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import { freePort } from '../../scripts/lib/providers/common/process.ts'

const run = promisify(execFile)

async function entries(source: Readable): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  await readTar(source, async (h, content) => {
    const chunks: Buffer[] = []
    for await (const c of content) chunks.push(c)
    out.set(h.name, Buffer.concat(chunks))
  })
  return out
}

test('testbox: built from apt + Go into an empty cache, its busybox and probe work', async (t) => {
  const cache = await mkdtemp(path.join(os.tmpdir(), 'kubelab-testbox-'))
  t.teardown(() => rm(cache, { recursive: true, force: true }))
  const progress = new Progress({})
  const image = await ensureTestboxImage(cache, progress)
  t.is(image.ref, TESTBOX_IMAGE)
  t.deepEqual(await ensureTestboxImage(cache, progress), image, 'second ensure: cache hit')

  const outer = await entries(createReadStream(image.tar))
  const blob = (d: string) => outer.get(`blobs/sha256/${d.replace('sha256:', '')}`)!
  const manifest = JSON.parse(blob(image.digest).toString()) as { layers: { digest: string }[] }
  const layer = await entries(Readable.from([blob(manifest.layers[0]!.digest)]))
  const bin = path.join(cache, 'out')
  await run('mkdir', ['-p', bin])
  for (const f of ['busybox', 'probe']) {
    await writeFile(path.join(bin, f), layer.get(`bin/${f}`)!)
    await chmod(path.join(bin, f), 0o755)
  }
  const file = (await run('file', ['-b', path.join(bin, 'probe')]).catch(() => ({ stdout: 'no file(1)' }))).stdout
  t.log(`probe: ${file.trim()}`)
  if (!file.startsWith('no file')) t.regex(file, /statically linked/)

  const applets = new Set((await run(path.join(bin, 'busybox'), ['--list'])).stdout.split('\n'))
  t.deepEqual(TESTBOX_APPLETS.filter((a) => !applets.has(a)), [], 'applets busybox lacks')

  const port = await freePort()
  const server = spawn(path.join(bin, 'probe'), ['serve', '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => { server.kill('SIGTERM') })
  const probe = (args: string[]) => run(path.join(bin, 'probe'), args).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e)
  let root = await probe(['get', `http://127.0.0.1:${port}/`, '--timeout', '2s'])
  for (let i = 0; i < 40 && root.code !== 0; i++) {
    await new Promise((r) => setTimeout(r, 100))
    root = await probe(['get', `http://127.0.0.1:${port}/`, '--timeout', '2s'])
  }
  t.is(root.code, 0, root.stderr)
  t.is(root.stdout, `${os.hostname()}\n`)
  t.like(await probe(['get', `http://127.0.0.1:${port}/healthz`]), { code: 0, stdout: 'ok\n' })
  const missing = await probe(['get', `http://127.0.0.1:${port}/nope`])
  t.is(missing.code, 1)
  t.regex(missing.stderr, /404 Not Found/)
  const ca = path.join(cache, 'not-a-ca.pem')
  await writeFile(ca, 'junk')
  t.regex((await probe(['get', `https://127.0.0.1:${port}/`, '--ca', ca])).stderr, /no PEM certificates/)
  t.is((await probe(['frobnicate'])).code, 2)
  t.true((await readFile(image.tar)).length > 1_000_000)
})
