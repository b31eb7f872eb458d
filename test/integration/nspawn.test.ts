// The nspawn provider on this host, through the real CLI: 3 machines up, SSH into each, a second
// `up` reuses them (same processes), `down` leaves no namespace, mount, cgroup or process behind.
// Needs root, systemd-nspawn, debootstrap and socat (.ci/run installs them).
import test from 'ava'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { cacheDir as defaultCacheDir } from '../../scripts/lib/artifacts/cache.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import { NspawnProvider } from '../../scripts/lib/providers/nspawn/provider.ts'
import { processMatches } from '../../scripts/lib/providers/common/process.ts'
import { runnerFor } from '../../scripts/lib/remote/machine.ts'
import { kubelab } from '../helpers/cli.ts'

const name = `kltest${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-nspawn-'))
const stateRoot = path.join(work, 'state')
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: stateRoot }
writeFileSync(config, `name: ${name}
provider: {type: nspawn, network: 10.78.0.0/24}
nodes:
  - {name: cp, role: control-plane}
  - {name: w1, role: worker}
  - {name: w2, role: worker}
`)

interface State { machines: Record<string, { pids: Record<string, number> }> }
const readState = () => JSON.parse(readFileSync(path.join(stateRoot, name, 'state.json'), 'utf8')) as State

/** Everything of this cluster that exists on the host right now. */
function leftovers(): string[] {
  const left: string[] = []
  for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) if (ns.startsWith(`kubelab-${name}`)) left.push(`netns ${ns}`)
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) if (line.includes(stateRoot)) left.push(`mount ${line.split(' ')[4]}`)
  const walk = (dir: string, depth: number) => {
    if (depth > 4 || !existsSync(dir)) return
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue
      if (e.name.startsWith(`kubelab-${name}-`)) left.push(`cgroup ${path.join(dir, e.name)}`)
      else walk(path.join(dir, e.name), depth + 1)
    }
  }
  walk('/sys/fs/cgroup', 0)
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)) {
    if (processMatches(pid, stateRoot)) left.push(`process ${pid}`)
  }
  return left
}

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env })
  rmSync(work, { recursive: true, force: true })
})

test.serial('3 nspawn machines: up, ssh into each, up again reuses them, down leaves nothing', async (t) => {
  const up = await kubelab(['up', '--machines-only', '-c', config, '--json'], { env })
  t.is(up.code, 0, up.stderr)
  const machines = (JSON.parse(up.stdout) as { machines: { name: string; state: string; address: string }[] }).machines
  t.deepEqual(machines.map((m) => [m.name, m.state, m.address]),
    [['cp', 'running', '10.78.0.11'], ['w1', 'running', '10.78.0.12'], ['w2', 'running', '10.78.0.13']])

  for (const m of machines) {
    const r = await kubelab(['ssh', m.name, '-c', config, '--', 'hostname; systemctl is-system-running --wait; ip -4 -o addr show eth0'], { env })
    t.is(r.code, 0, r.stderr)
    t.regex(r.stdout, new RegExp(`^${m.name}\\n(running|degraded)\\n.*inet ${m.address.replace(/\./g, '\\.')}/24`))
  }
  // kubelab's own path: the ssh2 Runner through each machine's UNIX socket, host key pinned.
  const stateDir = path.join(stateRoot, name)
  const { config: cfg } = parseConfig(readFileSync(config, 'utf8'), { file: config, env: {} })
  const provider = new NspawnProvider({ config: cfg, stateDir, cacheDir: defaultCacheDir(), progress: new Progress({ sink: { write: () => true } }) })
  for (const m of await provider.list()) {
    const runner = await runnerFor(m, stateDir)
    t.teardown(() => runner.close())
    t.is((await runner.$`cat /etc/hostname`).stdout.trim(), m.name)
    t.true(await runner.test`test -d /var/lib/containerd`)
  }
  // Files from the host's cache reach a machine as a local copy through its read-only share.
  const cache = defaultCacheDir()
  const shared = path.join(cache, `share-test-${process.pid}`)
  writeFileSync(shared, 'from the host cache\n')
  t.teardown(() => rmSync(shared, { force: true }))
  const [first] = await provider.list()
  t.deepEqual(first!.share, { hostPath: cache, nodePath: '/run/kubelab/cache' })
  const r0 = await runnerFor(first!, stateDir)
  t.teardown(() => r0.close())
  const sha = createHash('sha256').update('from the host cache\n').digest('hex')
  t.is(await r0.upload(shared, '/opt/share-test/file', sha), 'sent')
  t.is(await r0.upload(shared, '/opt/share-test/file', sha), 'skipped')
  t.is((await r0.$`cat /opt/share-test/file`).stdout, 'from the host cache\n')

  const ping = await kubelab(['ssh', 'w1', '-c', config, '--', 'ping -c1 -W2 cp >/dev/null && echo reachable'], { env })
  t.is(ping.stdout.trim(), 'reachable', 'machines reach each other by name over the lab network')

  const pidsBefore = readState().machines
  const again = await kubelab(['up', '--machines-only', '-c', config], { env })
  t.is(again.code, 0, again.stderr)
  t.regex(again.stderr, /all reused, nothing changed/)
  t.deepEqual(readState().machines, pidsBefore, 'no machine was recreated')

  const down = await kubelab(['down', '-c', config], { env })
  t.is(down.code, 0, down.stderr)
  for (const rec of Object.values(pidsBefore)) for (const pid of Object.values(rec.pids)) t.false(processMatches(pid, stateRoot))
  t.deepEqual(leftovers(), [])
  t.false(existsSync(path.join(stateRoot, name)))
})

test.serial('a second up while one runs is refused; a stale lock is taken over', async (t) => {
  const status = await kubelab(['status', '-c', config], { env })
  t.is(status.code, 0)
  t.regex(status.stderr, /has no machines/)
  const lock = path.join(stateRoot, `${name}.lock`)
  // A live holder (this test process) makes `up` refuse at once, naming the holder.
  writeFileSync(lock, JSON.stringify({ pid: process.pid, what: `kubelab up (cluster ${name})` }))
  const refused = await kubelab(['up', '--machines-only', '-c', config], { env })
  t.is(refused.code, 1)
  t.regex(refused.stderr, new RegExp(`ERR_LOCKED\\] kubelab up \\(cluster ${name}\\) \\(PID ${process.pid}\\) is already running`))
  t.false(existsSync(path.join(stateRoot, name, 'state.json')), 'nothing was made')
  // A holder that is gone leaves a stale lock, which the next run takes over.
  writeFileSync(lock, JSON.stringify({ pid: 999999999, what: 'kubelab up (cluster gone)' }))
  const up = await kubelab(['up', '--machines-only', '-c', config], { env })
  t.is(up.code, 0, up.stderr)
  t.false(existsSync(lock), 'the lock is released')
  t.is((await kubelab(['down', '-c', config], { env })).code, 0)
  t.deepEqual(leftovers(), [])
})
