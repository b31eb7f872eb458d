// The whole `up` on nspawn machines with binaries built from Go modules: the default shape (1
// control plane + 2 workers) comes up with every node Ready at the configured version and the
// smoke suite green (then once more with a JUnit report, and once with kube-proxy stopped on a
// worker: the right check fails, the report and a logs bundle say so, `up` repairs it); a second
// `up` changes no step and restarts nothing (kubelet and containerd keep their PIDs); CoreDNS is
// Available and every node holds the sandbox, testbox and coredns images; kubectl works from this
// host through the loopback forward; `down` removes it all.
import test from 'ava'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { COREDNS_IMAGE, TESTBOX_IMAGE } from '../../scripts/lib/images/workloads.ts'
import { SANDBOX_IMAGE } from '../../scripts/lib/templates/files.ts'
import { kubelab } from '../helpers/cli.ts'
import { CLI, ROOT } from '../helpers/paths.ts'

const name = `kle2e${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-e2e-'))
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: path.join(work, 'state') }
// The repo's default config, as its own cluster on its own lab network.
const base = parse(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8')) as Record<string, unknown>
writeFileSync(config, JSON.stringify({ ...base, name, provider: { type: 'nspawn', network: '10.83.0.0/24' } }))
const ssh = (node: string, cmd: string) => kubelab(['ssh', node, '-c', config, '--', cmd], { env })
/** kubelet's and containerd's PIDs on a node; an SSH failure fails loudly instead of reading as "no PID". */
const pids = async (node: string) => {
  const r = await ssh(node, 'systemctl show -p MainPID --value kubelet containerd')
  if (r.code !== 0) throw new Error(`kubelab ssh ${node} failed (${r.code}): ${r.stderr}`)
  return r.stdout.trim()
}

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env })
  rmSync(work, { recursive: true, force: true })
})

test.serial('up: 1 control plane + 2 workers, every node Ready at the configured version, all 20 smoke checks green (JUnit, timings)', async (t) => {
  const started = Date.now()
  const junit = path.join(work, 'smoke.xml')
  const up = await kubelab(['up', '-c', config, '--junit', junit], { env, timeoutMs: 600_000 })
  t.is(up.code, 0, up.stderr)
  t.log(`up took ${((Date.now() - started) / 1000).toFixed(1)}s`)
  t.regex(up.stderr, /smoke: 20 passed, 0 failed/)
  const xml = readFileSync(junit, 'utf8')
  t.is(xml.match(/<testcase /g)?.length, 20)
  t.regex(xml, /<testsuite name="kubelab-smoke" tests="20" failures="0"/)
  const timings = JSON.parse(readFileSync(path.join(work, 'state', name, 'timings.json'), 'utf8')) as { entries: { phase: string }[] }
  t.is(timings.entries.filter((e) => e.phase.startsWith('smoke:')).length, 20)
  const nodes = await kubelab(['kubectl', '-c', config, '--', 'get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], { env })
  t.is(nodes.code, 0, nodes.stderr)
  t.is(nodes.stdout.trim(), ['control-plane v1.35.4 True', 'worker-1 v1.35.4 True', 'worker-2 v1.35.4 True'].join('\n'))
})

test.serial('CoreDNS is Available and every node holds the three local images', async (t) => {
  const dns = await kubelab(['kubectl', '-c', config, '--', '-n', 'kube-system', 'get', 'deployment', 'coredns', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status} {.spec.template.spec.containers[0].image}'], { env })
  t.is(dns.code, 0, dns.stderr)
  t.is(dns.stdout.trim(), `True ${COREDNS_IMAGE}`)
  for (const node of ['control-plane', 'worker-1', 'worker-2']) {
    const r = await ssh(node, 'crictl images -o json')
    t.is(r.code, 0, r.stderr)
    const tags = (JSON.parse(r.stdout) as { images: { repoTags: string[] }[] }).images.flatMap((i) => i.repoTags)
    for (const image of [SANDBOX_IMAGE, TESTBOX_IMAGE, COREDNS_IMAGE]) t.true(tags.includes(image), `${node} lacks ${image}: ${tags.join(', ')}`)
  }
})

test.serial('a second up changes nothing and restarts nothing', async (t) => {
  const before = await Promise.all(['control-plane', 'worker-1', 'worker-2'].map(pids))
  const again = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 300_000 })
  t.is(again.code, 0, again.stderr)
  t.notRegex(again.stderr, /\d+ changed/, again.stderr)
  t.deepEqual(await Promise.all(['control-plane', 'worker-1', 'worker-2'].map(pids)), before)
})

test.serial('status shows every node Ready with its substrate and running units; timings are written', async (t) => {
  const r = await kubelab(['status', '-c', config, '--json'], { env })
  t.is(r.code, 0, r.stderr)
  const s = JSON.parse(r.stdout) as { nodes: { name: string; ready: string; version: string; substrate: string; components: Record<string, string> }[] }
  t.deepEqual(s.nodes.map((n) => [n.name, n.ready, n.version]), [['control-plane', 'Ready', 'v1.35.4'], ['worker-1', 'Ready', 'v1.35.4'], ['worker-2', 'Ready', 'v1.35.4']])
  t.true(s.nodes.every((n) => n.substrate === 'systemd-nspawn, cgroup v1' && Object.values(n.components).every((st) => st === 'active')))
  t.is(Object.keys(s.nodes[0]!.components).length, 8) // the control plane's 4, containerd, kubelet, kube-proxy, kube-router
  const timings = JSON.parse(readFileSync(path.join(work, 'state', name, 'timings.json'), 'utf8')) as { entries: { phase: string; node?: string }[] }
  t.true(timings.entries.some((e) => e.phase === 'kubelet:config' && e.node === 'worker-1'))
  t.regex(readFileSync(path.join(work, 'state', name, 'timings.svg'), 'utf8'), /^<svg /)
  t.false(readFileSync(path.join(work, 'state', name, 'timings.json'), 'utf8').includes('BEGIN'), 'no key material in timings')
})

// The whole suite ran in `up` (above); the command's own --junit/--json on two checks (CI time).
test.serial('smoke --check nodes-ready,rbac-isolation --junit --json: those two, numbered as in the suite', async (t) => {
  const junit = path.join(work, 'smoke-two.xml')
  const r = await kubelab(['smoke', '-c', config, '--check', 'nodes-ready,rbac-isolation', '--junit', junit, '--json'], { env, timeoutMs: 300_000 })
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /✓ +1\. every node Ready/)
  t.regex(r.stderr, /✓ +20\. /)
  const xml = readFileSync(junit, 'utf8')
  t.is(xml.match(/<testcase /g)?.length, 2)
  t.regex(xml, /<testsuite name="kubelab-smoke" tests="2" failures="0"/)
  const out = JSON.parse(r.stdout) as { passed: number; failed: number; checks: { id: string; ok: boolean }[] }
  t.deepEqual([out.passed, out.failed], [2, 0])
  t.deepEqual(out.checks.map((c) => c.id), ['nodes-ready', 'rbac-isolation'])
})

test.serial('a broken worker: the right check fails with its reason, JUnit records it, a logs bundle is written; up repairs it', async (t) => {
  t.is((await ssh('worker-2', 'systemctl stop kube-proxy')).code, 0)
  // plan against the live machines names exactly what `up` would change.
  const plan = await kubelab(['plan', '-c', config, '--json'], { env, timeoutMs: 120_000 })
  t.is(plan.code, 0, plan.stderr)
  const changing = (JSON.parse(plan.stdout) as { nodes: { name: string; steps: { id: string; live: string }[] }[] }).nodes
    .flatMap((n) => n.steps.filter((st) => st.live !== 'unchanged').map((st) => `${n.name} ${st.id} ${st.live}`))
  t.deepEqual(changing, ['worker-2 kube-proxy:config would change'])
  const junit = path.join(work, 'broken.xml')
  // Two checks, one that must fail and one that must not (the whole suite would wait out every
  // Service check on worker-2).
  const r = await kubelab(['smoke', '-c', config, '--check', 'nodes-ready,rbac-isolation', '--junit', junit], { env, timeoutMs: 600_000 })
  t.is(r.code, 1, r.stderr)
  t.regex(r.stderr, /✗ {2}1\. every node Ready; containerd, kubelet, kube-proxy active on each/)
  t.regex(r.stderr, /on worker-2: kube-proxy is inactive/)
  const xml = readFileSync(junit, 'utf8')
  t.regex(xml, /<testsuite name="kubelab-smoke" tests="2" failures="1"/)
  t.regex(xml, /01 nodes-ready: [^"]*"[^>]*>\s*<failure message="on worker-2: kube-proxy is inactive"/)
  const bundle = /logs bundle: (\S+)/.exec(r.stderr)?.[1]
  t.truthy(bundle, r.stderr)
  t.regex(readFileSync(path.join(bundle!, 'worker-2', 'journal-kube-proxy.txt'), 'utf8'), /Stopped|Stopping|kube-proxy/)
  // The cluster heals by converging again.
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 300_000 })
  t.is(up.code, 0, up.stderr)
  t.is((await ssh('worker-2', 'systemctl is-active kube-proxy')).stdout.trim(), 'active')
})

test.serial('interrupted in the middle of the kubelet step, up finishes when run again', async (t) => {
  t.is((await kubelab(['down', '-c', config], { env })).code, 0)
  const child = spawn(process.execPath, [CLI, 'up', '-c', config, '--no-smoke'], { cwd: ROOT, env: { ...process.env, ...env, CI: '1' } })
  let stderr = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString()
    // The bootstrap step is done: kubelet:config is what runs now.
    if (stderr.includes('✓ Creating the bootstrap token') && !child.killed) child.kill('SIGINT')
  })
  const code = await exited
  t.is(code, 130, stderr)
  t.regex(stderr, /interrupted \(SIGINT\): cleaning up .*; nothing is lost/)
  const again = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 600_000 })
  t.is(again.code, 0, again.stderr)
  const nodes = await kubelab(['kubectl', '-c', config, '--', 'get', 'nodes', '--no-headers'], { env })
  t.is(nodes.stdout.trim().split('\n').filter((l) => / Ready /.test(l)).length, 3, nodes.stdout)
})

test.serial('stop, then start: the same machines at the same addresses, every node Ready, a Deployment Available again', async (t) => {
  const kubectl = (...args: string[]) => kubelab(['kubectl', '-c', config, '--', ...args], { env, timeoutMs: 240_000 })
  t.is((await kubectl('create', 'deployment', 'kept', `--image=${TESTBOX_IMAGE}`, '--replicas=2', '--', '/bin/probe', 'serve')).code, 0)
  t.is((await kubectl('rollout', 'status', 'deployment/kept', '--timeout=120s')).code, 0)
  type Status = { machines: { name: string; address: string; state: string }[] }
  const status = async () => JSON.parse((await kubelab(['status', '-c', config, '--json'], { env, timeoutMs: 120_000 })).stdout) as Status
  const before = (await status()).machines.map((m) => `${m.name} ${m.address}`)
  const stop = await kubelab(['stop', '-c', config], { env, timeoutMs: 180_000 })
  t.is(stop.code, 0, stop.stderr)
  t.regex(stop.stderr, /✓ Stopping 3 nspawn machines/)
  t.deepEqual((await status()).machines.map((m) => m.state), ['stopped', 'stopped', 'stopped'])
  const start = await kubelab(['start', '-c', config], { env, timeoutMs: 600_000 })
  t.is(start.code, 0, start.stderr.split('\n').slice(-30).join('\n'))
  t.deepEqual((await status()).machines.map((m) => `${m.name} ${m.address}`), before)
  const nodes = await kubectl('get', 'nodes', '--no-headers')
  t.is(nodes.stdout.trim().split('\n').filter((l) => / Ready /.test(l)).length, 3, nodes.stdout)
  t.is((await kubectl('rollout', 'status', 'deployment/kept', '--timeout=180s')).code, 0)
  t.is((await kubectl('get', 'deployment', 'kept', '-o', 'jsonpath={.status.availableReplicas}')).stdout, '2')
})
