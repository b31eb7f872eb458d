// QEMU VMs under TCG on this host (no usable KVM here), booting the locally built image: one VM on
// the lab bridge as root, one rootless through user-mode networking as an unprivileged user, and a
// VM that cannot boot, whose error names it and shows its serial console. Slowest tests of the
// suite: the image is built once (~1 min) and each boot takes ~25 s under TCG.
import test from 'ava'
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { Progress } from '../../scripts/lib/log/progress.ts'
import { cacheDir as defaultCacheDir } from '../../scripts/lib/artifacts/cache.ts'
import { diskPaths, ensureQemuDisk } from '../../scripts/lib/providers/qemu/image.ts'
import { kubelab } from '../helpers/cli.ts'
import { ensureTestUsers, NOSUDO_USER } from '../helpers/sshd.ts'

const work = mkdtempSync(path.join(tmpdir(), 'kubelab-qemu-'))
chmodSync(work, 0o777) // the unprivileged user makes its state folders here
const quiet = new Progress({ sink: { write: () => true } })

function config(name: string, body = ''): string {
  const file = path.join(work, `${name}.yaml`)
  writeFileSync(file, `name: ${name}\nprovider: {type: qemu, network: 10.79.0.0/24}\n${body}nodes:\n  - {name: cp, role: control-plane, cpus: 1, memory: 1GiB}\n  - {name: w1, role: worker, cpus: 1, memory: 1GiB}\n`)
  return file
}

/** A cache readable by an unprivileged user, holding a copy of the base disk (optionally broken). */
function userCache(dir: string, breakInitrd = false): string {
  // The current recipe's disk (the root test before built it); an older recipe's may sit beside it.
  const src = diskPaths(defaultCacheDir()).dir
  if (!existsSync(path.join(src, 'base.qcow2'))) throw new Error(`no base disk in ${src} (the root test builds it)`)
  const cache = path.join(work, dir)
  cpSync(src, path.join(cache, 'images', path.basename(src)), { recursive: true })
  if (breakInitrd) writeFileSync(path.join(cache, 'images', path.basename(src), 'initrd.img'), 'not an initrd')
  execFileSync('chown', ['-R', NOSUDO_USER, cache])
  return cache
}

test.before(async () => {
  ensureTestUsers()
  await ensureQemuDisk(defaultCacheDir(), { progress: quiet })
})

test.after.always(async () => {
  for (const f of readdirSync(work).filter((f) => f.endsWith('.yaml'))) {
    const name = f.replace('.yaml', '')
    const asUser = name !== 'qroot' ? NOSUDO_USER : undefined
    await kubelab(['down', '-c', path.join(work, f)], { env: { KUBELAB_STATE: path.join(work, `state-${name}`), KUBELAB_CACHE: path.join(work, `cache-${name}`) }, ...(asUser ? { asUser } : {}) })
  }
  rmSync(work, { recursive: true, force: true })
})

test.serial('as root: a VM on the lab bridge boots the local image and answers SSH; down removes it', async (t) => {
  const file = config('qroot')
  const env = { KUBELAB_STATE: path.join(work, 'state-qroot') }
  const started = Date.now()
  const up = await kubelab(['up', '--machines-only', '-c', file, '--json'], { env, timeoutMs: 400_000 })
  t.is(up.code, 0, up.stderr)
  t.log(`2 VMs SSH-ready in ${((Date.now() - started) / 1000).toFixed(1)}s (TCG)`)
  const machines = (JSON.parse(up.stdout) as { machines: { name: string; address: string; state: string }[] }).machines
  t.deepEqual(machines.map((m) => [m.name, m.address, m.state]), [['cp', '10.79.0.11', 'running'], ['w1', '10.79.0.12', 'running']])
  const r = await kubelab(['ssh', 'w1', '-c', file, '--', 'hostname; cat /sys/fs/cgroup/cgroup.controllers >/dev/null && echo cgroup2; ping -c1 -W3 cp >/dev/null && echo lan'], { env })
  t.is(r.stdout, 'w1\ncgroup2\nlan\n', r.stderr)
  t.regex(up.stderr, /TCG/)
  const down = await kubelab(['down', '-c', file], { env })
  t.is(down.code, 0, down.stderr)
  t.false(existsSync('/run/netns/kubelab-qroot'))
  t.false(existsSync(path.join(work, 'state-qroot', 'qroot')))
})

test.serial('rootless: an unprivileged user boots a VM with user-mode networking', async (t) => {
  const file = config('quser')
  chownSync(file, Number(execFileSync('id', ['-u', NOSUDO_USER]).toString().trim()), 0)
  const env = { KUBELAB_STATE: path.join(work, 'state-quser'), KUBELAB_CACHE: userCache('cache-quser'), HOME: work }
  const up = await kubelab(['up', '--machines-only', '-c', file], { env, asUser: NOSUDO_USER, timeoutMs: 400_000 })
  t.is(up.code, 0, up.stderr)
  t.regex(up.stdout, /cp\s+control-plane\s+10\.79\.0\.11\s+running\s+qemu\s+127\.0\.0\.1:\d+/)
  // The VMs reach each other on their private network (the LAN hub), by their cluster addresses.
  const r = await kubelab(['ssh', 'cp', '-c', file, '--', 'hostname; id -u; ping -c1 -W3 w1 >/dev/null && echo lan'], { env, asUser: NOSUDO_USER })
  t.is(r.stdout, 'cp\n0\nlan\n', r.stderr)
  t.is((await kubelab(['down', '-c', file], { env, asUser: NOSUDO_USER })).code, 0)
})

test.serial('a VM that cannot boot fails with an error naming it and the tail of its serial console', async (t) => {
  const file = config('qbroken')
  const env = { KUBELAB_STATE: path.join(work, 'state-qbroken'), KUBELAB_CACHE: userCache('cache-qbroken', true), HOME: work, KUBELAB_BOOT_TIMEOUT: '25' }
  const up = await kubelab(['up', '--machines-only', '-c', file], { env, asUser: NOSUDO_USER, timeoutMs: 120_000 })
  t.is(up.code, 1)
  t.regex(up.stderr, /ERR_MACHINE\] (cp|w1): sshd did not answer within 25s/)
  t.regex(up.stderr, /console \(last lines\):/)
  t.regex(up.stderr, /(Kernel panic|initramfs|unpack|VFS)/i)
  t.regex(up.stderr, /hint: full console log: .*serial\.log/)
})
