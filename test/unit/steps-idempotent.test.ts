// Real steps on FakeRunner nodes: check is false on a fresh node, one converge makes it true, a
// second converge writes nothing and restarts nothing; drift (an edited file, a stale route) is
// repaired with exactly the restarts it needs. The kernel, the routing table and `ctr` are
// modelled here as small handlers on the fake; files and systemd are the fake's own.
import test from 'ava'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import type { ClusterConfig } from '../../scripts/lib/config/types.ts'
import { differing, sha256 } from '../../scripts/lib/converge/files.ts'
import { converge } from '../../scripts/lib/converge/runner.ts'
import type { Step } from '../../scripts/lib/converge/step.ts'
import { CTR } from '../../scripts/lib/node/paths.ts'
import { networkPodRoutes } from '../../scripts/lib/steps/network-pod-routes.ts'
import { osPrep } from '../../scripts/lib/steps/os-prep.ts'
import { runtimeContainerd } from '../../scripts/lib/steps/runtime-containerd.ts'
import { runtimeRegistries } from '../../scripts/lib/steps/runtime-registries.ts'
import { HOSTS_TOML_MARK } from '../../scripts/lib/templates/files.ts'
import { INSTALLED_FILES } from '../../scripts/lib/templates/table.ts'
import { fakeContext, unquote, words, type FakeRunner } from '../helpers/fake-runner.ts'

const config: ClusterConfig = parseConfig('name: t\nprovider: {type: nspawn}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n', { file: '/x/c.yaml', env: {} }).config

/** Kernel modules and sysctls as os:prep sees them: modprobe loads, `sysctl --load` reads the file from the fake FS. */
function kernel(fake: FakeRunner) {
  const modules = new Set<string>()
  const sysctl = new Map([['net.ipv4.ip_forward', '0']])
  fake.on('grep -qw overlay /proc/filesystems', () => ({ exitCode: modules.has('overlay') ? 0 : 1 }))
  fake.on(/^modprobe (overlay|br_netfilter)$/, (_, m) => {
    modules.add(m![1]!)
    if (m![1] === 'br_netfilter') {
      fake.dirs.add('/proc/sys/net/bridge')
      sysctl.set('net.bridge.bridge-nf-call-iptables', '0').set('net.bridge.bridge-nf-call-ip6tables', '0')
    }
    return {}
  })
  fake.on(/^sysctl -n (\S+)$/, (_, m) => (sysctl.has(m![1]!) ? { stdout: `${sysctl.get(m![1]!)}\n` } : { exitCode: 255, stderr: `sysctl: cannot stat ${m![1]}` }))
  fake.on(/^sysctl -q --load=(\S+)$/, (_, m) => {
    for (const [, k, v] of (fake.text(m![1]!) ?? '').matchAll(/^([\w.-]+) = (\S+)$/gm)) {
      if (!sysctl.has(k!)) return { exitCode: 255, stderr: `sysctl: cannot stat ${k}` }
      sysctl.set(k!, v!)
    }
    return {}
  })
}

/** The node's routing table; kubelab-pod-routes.service, when started, runs the script kubelab wrote. */
function routing(fake: FakeRunner, address: string, extra: string[] = []) {
  const table = [`default via 10.0.0.1 dev host0`, `${address.replace(/\d+$/, '0')}/24 dev host0 proto kernel scope link src ${address}`, ...extra]
  const script = INSTALLED_FILES['network/kubelab-pod-routes'].dest
  fake.unit('kubelab-pod-routes').onStart = () => {
    for (const [, cidr, via] of (fake.text(script) ?? '').matchAll(/^ip route replace (\S+) via (\S+)$/gm)) {
      const i = table.findIndex((l) => l.startsWith(`${cidr} `))
      if (i >= 0) table.splice(i, 1)
      table.push(`${cidr} via ${via} dev host0`)
    }
  }
  fake.on('ip -4 route show', () => ({ stdout: table.map((l) => `${l} \n`).join('') }))
  fake.on(/^for r in (.*); do ip route del "\$r"; done$/, (_, m) => {
    for (const r of words(m![1]!)) table.splice(table.findIndex((l) => l.startsWith(`${r} `)), 1)
    return {}
  })
  return table
}

/** `ctr version` answers while containerd runs. */
const ctr = (fake: FakeRunner) => fake.on(`${CTR} version`, () => ({ exitCode: fake.unit('containerd').active ? 0 : 1 }))

function setup(model: (fake: FakeRunner, address: string) => void) {
  const f = fakeContext(config)
  for (const n of f.nodes) model(n.runner, n.spec.address)
  const fakes = f.nodes.map((n) => n.runner)
  /** Forgets what the fakes logged so far. */
  const reset = () => fakes.forEach((r) => { r.log.length = 0; r.written.length = 0 })
  const checks = async (step: Step) => Promise.all(f.nodes.map((n) => step.check(f.ctx, n)))
  return { ...f, fakes, reset, checks }
}

/** Restarts (and starts) of every unit on a fake. */
const starts = (fake: FakeRunner) => Object.fromEntries([...fake.units].map(([u, s]) => [u, s.starts + s.restarts]))

test('os:prep: converges files, modules and sysctls; a second run changes nothing', async (t) => {
  const s = setup((fake) => kernel(fake))
  t.deepEqual(await s.checks(osPrep), [false, false])
  await converge(s.ctx, [osPrep])
  t.deepEqual(await s.checks(osPrep), [true, true])
  const [cp] = s.fakes
  t.true(cp!.log.some((l) => l.includes('|| modprobe br_netfilter')))
  t.regex(cp!.text('/etc/sysctl.d/99-kubelab.conf')!, /net\.ipv4\.ip_forward = 1/)
  s.reset()
  await converge(s.ctx, [osPrep])
  for (const f of s.fakes) {
    t.deepEqual(f.written, [], 'no file written')
    t.false(f.log.some((l) => /modprobe|--load/.test(l)), f.log.join('\n'))
  }
  t.deepEqual(s.lines(), [' ✓ Preparing the OS (kernel modules, sysctls, swap, iptables backend)  2 nodes, 2 changed', ' ✓ Preparing the OS (kernel modules, sysctls, swap, iptables backend)  2 nodes, unchanged'])
})

test('network:pod-routes: a route to the other node, persisted by an enabled unit; stale routes go; a second run restarts nothing', async (t) => {
  const tables: string[][] = []
  const s = setup((fake, address) => tables.push(routing(fake, address, fake.node === 'w1' ? ['10.244.7.0/24 via 10.0.0.77 dev host0'] : [])))
  t.deepEqual(await s.checks(networkPodRoutes), [false, false])
  await converge(s.ctx, [networkPodRoutes])
  t.deepEqual(await s.checks(networkPodRoutes), [true, true])
  const [cp, w1] = config.nodes
  t.true(tables[0]!.includes(`${w1!.podCIDR} via ${w1!.address} dev host0`), tables[0]!.join('\n'))
  t.deepEqual(tables[1]!.filter((l) => l.startsWith('10.244.')), [`${cp!.podCIDR} via ${cp!.address} dev host0`], 'the stale route to a removed node is gone')
  for (const f of s.fakes) {
    t.true(f.unit('kubelab-pod-routes').enabled)
    t.is(f.unit('kubelab-pod-routes').staleStarts, 0)
  }
  s.reset()
  const before = s.fakes.map(starts)
  await converge(s.ctx, [networkPodRoutes])
  t.deepEqual(s.fakes.map(starts), before, 'nothing restarted')
  for (const f of s.fakes) t.deepEqual(f.written, [])
  t.deepEqual(s.lines().map((l) => l.replace(/^.*  /, '')), ['2 nodes, 2 changed', '2 nodes, unchanged'])
})

test('runtime:containerd: converged once, a re-run restarts nothing; an edited file is restored with exactly one restart', async (t) => {
  const s = setup((fake) => ctr(fake))
  t.deepEqual(await s.checks(runtimeContainerd), [false, false])
  await converge(s.ctx, [runtimeContainerd])
  t.deepEqual(await s.checks(runtimeContainerd), [true, true])
  for (const f of s.fakes) {
    const unit = f.unit('containerd')
    t.like(unit, { enabled: true, active: true, restarts: 1, starts: 0, staleStarts: 0 })
    t.true(f.dirs.has('/opt/cni/bin'))
  }

  s.reset()
  await converge(s.ctx, [runtimeContainerd])
  for (const f of s.fakes) {
    t.deepEqual(f.written, [], 'no file written')
    t.is(f.unit('containerd').restarts, 1, 'not restarted')
    t.false(f.log.some((l) => /systemctl (restart|start|daemon-reload)/.test(l)), f.log.join('\n'))
  }

  const config = INSTALLED_FILES['containerd/config.toml'].dest
  const [cp, w1] = s.fakes as [FakeRunner, FakeRunner]
  w1.put(config, `${w1.text(config)}# edited\n`)
  t.deepEqual(await s.checks(runtimeContainerd), [true, false])
  s.reset()
  const reloads = w1.daemonReloads
  await converge(s.ctx, [runtimeContainerd])
  t.deepEqual(await s.checks(runtimeContainerd), [true, true])
  t.is(w1.unit('containerd').restarts, 2, 'restarted exactly once for its restored config')
  t.is(cp.unit('containerd').restarts, 1, 'the other node untouched')
  t.deepEqual(cp.written, [])
  t.true(w1.written.includes(config))
  t.false(w1.written.includes(INSTALLED_FILES['systemd/containerd.service'].dest), 'only the edited file rewritten')
  t.is(w1.daemonReloads, reloads, 'no daemon-reload for a config file')
  t.notRegex(w1.text(config)!, /# edited/)

  // An edited unit file: daemon-reload before the restart, so systemd runs the restored definition.
  const unitFile = INSTALLED_FILES['systemd/containerd.service'].dest
  w1.put(unitFile, `${w1.text(unitFile)}# edited\n`)
  await converge(s.ctx, [runtimeContainerd])
  t.like(w1.unit('containerd'), { restarts: 3, staleStarts: 0 })
  t.is(w1.daemonReloads, reloads + 1)
  t.deepEqual(s.lines().map((l) => l.replace(/^.*  /, '')), ['2 nodes, 2 changed', '2 nodes, unchanged', '2 nodes, 1 changed', '2 nodes, 1 changed'])
})

test('runtime:containerd: a stopped containerd is started again, without a restart or a write', async (t) => {
  const s = setup((fake) => ctr(fake))
  await converge(s.ctx, [runtimeContainerd])
  const [, w1] = s.fakes as [FakeRunner, FakeRunner]
  w1.unit('containerd').active = false
  t.deepEqual(await s.checks(runtimeContainerd), [true, false])
  s.reset()
  await converge(s.ctx, [runtimeContainerd])
  t.like(w1.unit('containerd'), { active: true, restarts: 1, starts: 1 })
  t.deepEqual(w1.written, ['/var/lib/kubelab/stamps/containerd.service'], 'only the stamp, with the same content')
})

/** certs.d as runtime:registries reads it: the host directories whose hosts.toml kubelab marked; `rm -rf DIR`. */
function certsD(fake: FakeRunner) {
  fake.on(/^for f in \/etc\/containerd\/certs\.d\/\*\/hosts\.toml; do .*; done$/s, () => ({
    stdout: [...fake.files.keys()].filter((p) => /^\/etc\/containerd\/certs\.d\/[^/]+\/hosts\.toml$/.test(p) && fake.text(p)!.split('\n')[0] === HOSTS_TOML_MARK)
      .map((p) => `${p.split('/')[4]}\n`).join(''),
  }))
  fake.on(/^rm -rf (\/etc\/containerd\/certs\.d\/[^/]+)$/, (_, m) => {
    const dir = unquote(m![1]!)
    for (const p of [...fake.files.keys()]) if (p.startsWith(`${dir}/`)) fake.files.delete(p)
    fake.dirs.delete(dir)
    return {}
  })
}

test('runtime:registries: hosts.toml per host and the local registry name, no restart; a re-run writes nothing; a removed host is cleaned', async (t) => {
  const yaml = (registries: string) => `name: t\nprovider: {type: nspawn}\naddons: {registry: {enabled: true}}\n${registries}nodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n`
  const withQuay = parseConfig(yaml('registries:\n  quay.io: {insecure: true}\n'), { file: '/x/c.yaml', env: {} }).config
  const f = fakeContext(withQuay)
  for (const n of f.nodes) certsD(n.runner)
  const fakes = f.nodes.map((n) => n.runner)
  // Someone else's hosts.toml is left alone.
  fakes[1]!.put('/etc/containerd/certs.d/example.internal/hosts.toml', 'server = "https://example.internal"\n')
  const checks = (ctx = f.ctx) => Promise.all(f.nodes.map((n) => runtimeRegistries.check(ctx, n)))
  t.deepEqual(await checks(), [false, false])
  await converge(f.ctx, [runtimeRegistries])
  t.deepEqual(await checks(), [true, true])
  for (const fake of fakes) {
    t.regex(fake.text('/etc/containerd/certs.d/quay.io/hosts.toml')!, /server = "http:\/\/quay\.io"/)
    t.regex(fake.text('/etc/containerd/certs.d/localhost:5001/hosts.toml')!, /\[host\."http:\/\/10\.77\.0\.11:5000"\]/)
    t.false(fake.log.some((l) => /systemctl/.test(l)), 'containerd reads certs.d per pull: nothing restarted')
  }
  fakes.forEach((r) => { r.log.length = 0; r.written.length = 0 })
  await converge(f.ctx, [runtimeRegistries])
  for (const fake of fakes) t.deepEqual(fake.written, [], 'a re-run writes nothing')

  const without = { ...f.ctx, config: parseConfig(yaml(''), { file: '/x/c.yaml', env: {} }).config }
  t.deepEqual(await checks(without), [false, false])
  await converge(without, [runtimeRegistries])
  t.deepEqual(await checks(without), [true, true])
  for (const fake of fakes) t.is(fake.text('/etc/containerd/certs.d/quay.io/hosts.toml'), undefined)
  t.truthy(fakes[1]!.text('/etc/containerd/certs.d/example.internal/hosts.toml'))
  t.truthy(fakes[0]!.text('/etc/containerd/certs.d/localhost:5001/hosts.toml'))
})

test('the fake: a script it does not understand throws, naming the command and the script', async (t) => {
  const fake = setup(() => undefined).fakes[0]!
  t.regex((await t.throwsAsync(fake.$`iptables -L`)).message, /does not understand: iptables -L/)
  const err = await t.throwsAsync(fake.run('systemctl daemon-reload && iptables -L -n'))
  t.regex(err.message, /does not understand: iptables -L -n .*\n--- in the script ---\nsystemctl daemon-reload && iptables -L -n$/s)
  t.regex((await t.throwsAsync(fake.$`systemctl enable --now containerd`)).message, /does not understand/, 'an unmodelled flag is not ignored')
})

test('the fake: paths arrive with the real quoting and the sha256 listing answers for them', async (t) => {
  const fake = setup(() => undefined).fakes[0]!
  await fake.writeFile("/etc/odd dir/it's.conf", 'x')
  t.deepEqual(await differing(fake, [{ path: "/etc/odd dir/it's.conf", sha256: sha256('x') }, { path: '/etc/none', sha256: sha256('') }]), ['/etc/none'])
  t.true(await fake.test`test -s ${"/etc/odd dir/it's.conf"}`)
  t.false(await fake.test`test -f ${'/etc/none'}`)
  t.is((await fake.$`cat ${"/etc/odd dir/it's.conf"}`).stdout, 'x')
})
