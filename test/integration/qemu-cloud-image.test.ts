// provider.qemu.image for real, without the internet: a bootable Debian "cloud image" built locally
// (test/helpers/cloud-image.ts: cloud-init, sshd, kernel, GRUB on an MBR disk; cached by recipe in
// ~/.cache/kubelab/images) is served from 127.0.0.1 with its sha256. The fetcher path (download,
// refusal of a wrong sha256, resume, reuse with zero requests) runs on a tiny qcow2; then
// `kubelab up --machines-only` as root on the lab bridge downloads the image, boots it under TCG
// with its own bootloader, configured by cloud-init from the NoCloud seed, and `kubelab ssh` works;
// a wrong sha256 fails with the URL and both hashes and leaves no VM; an unbootable image fails
// with an error naming the machine and its console tail.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { cacheDir as defaultCacheDir, blobPath } from '../../scripts/lib/artifacts/cache.ts'
import { HttpClient } from '../../scripts/lib/artifacts/fetch.ts'
import { ArtifactError } from '../../scripts/lib/errors.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import { ensureCloudImage } from '../../scripts/lib/providers/qemu/cloud-image.ts'
import { ensureCloudTestImage, type CloudTestImage } from '../helpers/cloud-image.ts'
import { kubelab } from '../helpers/cli.ts'
import { startHttpServer } from '../helpers/http-server.ts'
import { ensureTestUsers, NOSUDO_USER } from '../helpers/sshd.ts'

const CLUSTER = 'h1cloud'
const NETWORK = '10.85.0.0/24'
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-qemu-cloud-'))
chmodSync(work, 0o777) // the unprivileged user makes its state and cache folders here
const quiet = new Progress({ sink: { write: () => true } })
const server = await startHttpServer()
const configs: { file: string; env: Record<string, string>; asUser?: string }[] = []
let image: CloudTestImage

const sha256 = (b: Buffer) => execFileSync('sha256sum', { input: b }).toString().split(' ')[0]!

/** The smallest valid cluster (cp + w1) on the cloud image at `url`; its own state and cache folders. */
function cluster(tag: string, ref: { url: string; sha256: string }) {
  const file = path.join(work, `${tag}.yaml`)
  writeFileSync(file, `name: ${CLUSTER}\nprovider:\n  type: qemu\n  network: ${NETWORK}\n  qemu: {image: {url: '${ref.url}', sha256: ${ref.sha256}}}\n`
    + 'nodes:\n  - {name: cp, role: control-plane, cpus: 1, memory: 1GiB}\n  - {name: w1, role: worker, cpus: 1, memory: 1GiB}\n')
  const env: { KUBELAB_STATE: string; KUBELAB_CACHE: string; HOME?: string } = { KUBELAB_STATE: path.join(work, `state-${tag}`), KUBELAB_CACHE: path.join(work, `cache-${tag}`) }
  const c = { file, env }
  configs.push(c)
  return c
}

const qemuOf = (stateDir: string) =>
  execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.startsWith('qemu-system') && l.includes(stateDir))

test.before(async (t) => {
  t.timeout(20 * 60_000) // a cold build: debootstrap (~5 min here) + the disk (~10 s)
  const started = Date.now()
  image = await ensureCloudTestImage(path.join(defaultCacheDir(), 'images'), quiet)
  t.log(`test cloud image ${image.built ? 'built' : 'cached'} in ${((Date.now() - started) / 1000).toFixed(1)}s: ${(image.size / 1e6).toFixed(0)} MB, sha256 ${image.sha256}`)
  server.files.set('/images/test-cloud.qcow2', readFileSync(image.file))
})

test.after.always(async () => {
  for (const c of configs) await kubelab(['down', '-c', c.file], { env: c.env, timeoutMs: 120_000, ...(c.asUser ? { asUser: c.asUser } : {}) })
  await server.close()
  rmSync(work, { recursive: true, force: true })
})

test.serial('the fetcher path: download, wrong sha256 refused with URL and both hashes, resume, reuse with zero requests', async (t) => {
  const small = path.join(work, 'small.qcow2')
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', small, '64M'])
  const body = readFileSync(small)
  const good = sha256(body)
  const url = `${server.url}/small.qcow2`
  server.files.set('/small.qcow2', body)
  const cache = path.join(work, 'cache-fetch')
  const wrong = '0'.repeat(64)
  const err = await t.throwsAsync(ensureCloudImage(cache, { url, sha256: wrong }, { progress: quiet }), { instanceOf: ArtifactError })
  t.is(err?.message, `cloud image ${url}: sha256 mismatch: expected ${wrong}, got ${good}`)
  t.false(existsSync(blobPath(cache, wrong)))
  t.deepEqual(readdirSync(path.join(cache, 'tmp')), [], 'the refused partial is removed')

  server.dropMidBody.set('/small.qcow2', 1)
  const before = server.requests.length
  const http = new HttpClient({ backoffMs: 10 })
  const got = await ensureCloudImage(cache, { url, sha256: good }, { progress: quiet, http })
  const gets = server.requests.slice(before)
  t.is(gets.length, 2)
  t.is(gets[0]!.range, undefined)
  t.regex(gets[1]!.range ?? '', /^bytes=[1-9]\d*-$/, 'the second request continues where the first stopped')
  t.deepEqual(got, { file: blobPath(cache, good), format: 'qcow2', virtualSize: 64 * 1024 * 1024 })

  const warm = new HttpClient()
  const again = server.requests.length
  t.deepEqual(await ensureCloudImage(cache, { url, sha256: good }, { progress: quiet, http: warm }), got)
  t.is(warm.requests, 0)
  t.is(server.requests.length, again)
})

test.serial('a wrong sha256: `up` fails naming the URL, expected and actual hash, and starts no VM', async (t) => {
  const url = `${server.url}/images/test-cloud.qcow2`
  const wrong = 'f'.repeat(64)
  t.timeout(5 * 60_000)
  const c = cluster('badsha', { url, sha256: wrong })
  const up = await kubelab(['up', '--machines-only', '-c', c.file], { env: c.env, timeoutMs: 300_000 })
  t.is(up.code, 1, up.stderr)
  t.log(up.stderr.trim())
  t.true(up.stderr.includes(`ERR_ARTIFACT] cloud image ${url}: sha256 mismatch: expected ${wrong}, got ${image.sha256}`), up.stderr)
  t.deepEqual(qemuOf(c.env.KUBELAB_STATE), [])
  t.false(existsSync(`/run/netns/kubelab-${CLUSTER}`), 'no lab namespace either')
  t.false(existsSync(blobPath(c.env.KUBELAB_CACHE, wrong)))
})

test.serial('as root: the cloud image boots with its own bootloader, cloud-init applies the NoCloud seed, SSH works', async (t) => {
  const url = `${server.url}/images/test-cloud.qcow2`
  t.timeout(20 * 60_000)
  const c = cluster('boot', { url, sha256: image.sha256 })
  const before = server.requests.length
  const started = Date.now()
  // cloud-init under TCG is slow (~4 min to SSH on this shared 2-core host under load): a wider deadline.
  try {
    const up = await kubelab(['up', '--machines-only', '-c', c.file, '--json'], { env: { ...c.env, KUBELAB_BOOT_TIMEOUT: '600' }, timeoutMs: 1_000_000 })
    t.is(up.code, 0, up.stderr)
    t.notRegex(up.stderr, /cloud-init finished with errors/)
    t.log(`download + boot + cloud-init to SSH-ready: ${((Date.now() - started) / 1000).toFixed(1)}s (TCG)`)
    t.true(server.requests.length > before, 'downloaded from the local server')
    const machines = (JSON.parse(up.stdout) as { machines: { name: string; address: string; state: string }[] }).machines
    t.deepEqual(machines.map((m) => [m.name, m.address, m.state]), [['cp', '10.85.0.11', 'running'], ['w1', '10.85.0.12', 'running']])
    const argv = qemuOf(c.env.KUBELAB_STATE)
    t.is(argv.length, 2)
    for (const a of argv) {
      t.false(a.includes('-kernel'), 'boots with the image\'s own bootloader')
      t.true(a.includes('cidata.iso'))
    }

    t.is((await kubelab(['ssh', 'cp', '-c', c.file, '--', 'true'], { env: c.env })).code, 0)
    const r = await kubelab(['ssh', 'cp', '-c', c.file, '--',
      'hostname; id -un; cloud-init status; ip -4 -o addr show eth0 | awk \'{print $4}\'; ip route show default | cut -d" " -f1-3; grep -w cp /etc/hosts; blkid -s LABEL -o value /dev/vdb; test "$(df --output=size -B1G / | tail -1)" -gt 10 && echo grown'], { env: c.env })
    t.is(r.stdout, `cp\nroot\nstatus: done\n10.85.0.11/24\ndefault via 10.85.0.1\n10.85.0.11\tcp\ncidata\ngrown\n`, r.stderr)
    const lan = await kubelab(['ssh', 'w1', '-c', c.file, '--', 'hostname; ping -c1 -W3 cp >/dev/null && echo lan'], { env: c.env })
    t.is(lan.stdout, 'w1\nlan\n', lan.stderr)

    // Warm: the image is in the cache (content-addressed) and the VM runs: no request, no reboot.
    const warmFrom = server.requests.length
    const again = await kubelab(['up', '--machines-only', '-c', c.file], { env: c.env, timeoutMs: 120_000 })
    t.is(again.code, 0, again.stderr)
    t.is(server.requests.length, warmFrom, 'the cached image is reused with zero requests')
    t.deepEqual(qemuOf(c.env.KUBELAB_STATE), argv, 'the same QEMU process')
  } finally {
    const down = await kubelab(['down', '-c', c.file], { env: c.env, timeoutMs: 120_000 })
    t.is(down.code, 0, down.stderr)
  }
  t.deepEqual(qemuOf(c.env.KUBELAB_STATE), [])
  t.false(existsSync(`/run/netns/kubelab-${CLUSTER}`))
})

test.serial('rootless: an unprivileged user downloads and boots the cloud image with user-mode networking and the LAN', async (t) => {
  t.timeout(20 * 60_000)
  ensureTestUsers()
  const c = cluster('user', { url: `${server.url}/images/test-cloud.qcow2`, sha256: image.sha256 })
  chownSync(c.file, Number(execFileSync('id', ['-u', NOSUDO_USER]).toString().trim()), 0)
  Object.assign(c, { asUser: NOSUDO_USER })
  c.env.HOME = work
  const env = c.env
  try {
    const up = await kubelab(['up', '--machines-only', '-c', c.file], { env: { ...env, KUBELAB_BOOT_TIMEOUT: '600' }, asUser: NOSUDO_USER, timeoutMs: 1_000_000 })
    t.is(up.code, 0, up.stderr)
    t.regex(up.stdout, /w1\s+worker\s+10\.85\.0\.12\s+running\s+qemu\s+127\.0\.0\.1:\d+/)
    const r = await kubelab(['ssh', 'cp', '-c', c.file, '--', 'hostname; cloud-init status; ip -4 -o addr show eth1 | awk \'{print $4}\'; ping -c1 -W3 w1 >/dev/null && echo lan'], { env, asUser: NOSUDO_USER })
    t.is(r.stdout, 'cp\nstatus: done\n10.85.0.11/24\nlan\n', r.stderr)
  } finally {
    t.is((await kubelab(['down', '-c', c.file], { env, asUser: NOSUDO_USER, timeoutMs: 120_000 })).code, 0)
  }
})

test.serial('an image that cannot boot fails with an error naming the machine and its console tail', async (t) => {
  const blank = path.join(work, 'blank.qcow2')
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', blank, '1G'])
  const body = readFileSync(blank)
  server.files.set('/blank.qcow2', body)
  const c = cluster('blank', { url: `${server.url}/blank.qcow2`, sha256: sha256(body) })
  t.timeout(3 * 60_000)
  const up = await kubelab(['up', '--machines-only', '-c', c.file], { env: { ...c.env, KUBELAB_BOOT_TIMEOUT: '20' }, timeoutMs: 120_000 })
  t.is(up.code, 1)
  t.log(up.stderr.trim())
  t.regex(up.stderr, /ERR_MACHINE\] (cp|w1): sshd did not answer within 20s/)
  t.regex(up.stderr, /console \(last lines\):/)
  t.regex(up.stderr, /not a bootable disk|No bootable device/i)
  t.regex(up.stderr, /hint: full console log: .*serial\.log/)
})
