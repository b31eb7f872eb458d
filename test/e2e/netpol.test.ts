// NetworkPolicy (network.policy, on by default) on nspawn machines: 1 control plane + 2 workers in
// a lab network of their own (10.89.0.0/24). `up`, then the smoke suite's NetworkPolicy check, which
// proves default-deny across nodes, one label let in, an egress deny blocking a Service call and
// the policies removed letting traffic through; kube-router runs on every node with its own
// identity and read-only rights; the README's isolation example runs as written (its shell block,
// each `# -> web` / `# -> blocked` line checked); a default-deny stays enforced after kubelet and
// containerd restart on the server's node.
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { OTHER_ADDONS_OFF } from '../helpers/addons.ts'
import { kubelab } from '../helpers/cli.ts'
import { CLI, ROOT } from '../helpers/paths.ts'

const name = `klnp${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-netpol-'))
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: path.join(work, 'state'), KUBELAB_EGRESS: 'off' }
writeFileSync(config, JSON.stringify({
  name,
  provider: { type: 'nspawn', network: '10.89.0.0/24' },
  addons: OTHER_ADDONS_OFF,
  nodes: [
    { name: 'control-plane', role: 'control-plane' },
    { name: 'worker-1', role: 'worker' },
    { name: 'worker-2', role: 'worker' },
  ],
}))
const ssh = (node: string, cmd: string) => kubelab(['ssh', node, '-c', config, '--', cmd], { env, timeoutMs: 120_000 })
const kubectl = (...args: string[]) => kubelab(['kubectl', '-c', config, '--', ...args], { env, timeoutMs: 240_000 })

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env, timeoutMs: 300_000 })
  rmSync(work, { recursive: true, force: true })
})

test.serial('up: kube-router on every node, its own identity with read-only rights', async (t) => {
  const started = Date.now()
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 900_000 })
  t.log(`up: ${Math.round((Date.now() - started) / 1000)} s`)
  t.is(up.code, 0, up.stderr.split('\n').slice(-60).join('\n'))
  t.regex(up.stderr, /Enforcing NetworkPolicy/)
  for (const node of ['control-plane', 'worker-1', 'worker-2']) {
    const r = await ssh(node, 'systemctl is-active kube-router && iptables -w -n -L KUBE-ROUTER-FORWARD >/dev/null && echo chain')
    t.regex(r.stdout, /^active\nchain/, `${node}: ${r.stdout} ${r.stderr}`)
  }
  // Each node its own identity, and that identity can read policies but not Secrets nor write pods.
  const can = async (verb: string, resource: string) => (await kubectl('auth', 'can-i', verb, resource, '--as=kubelab:kube-router:worker-1', '--as-group=kubelab:kube-router')).stdout.trim()
  t.is(await can('watch', 'networkpolicies'), 'yes')
  t.is(await can('list', 'secrets'), 'no')
  t.is(await can('create', 'pods'), 'no')
})

// The whole suite (this check among the 18) runs in the cluster e2e's `up`; here the NetworkPolicy check alone.
test.serial('the smoke suite\'s NetworkPolicy check passes (smoke --check network-policy)', async (t) => {
  const started = Date.now()
  const smoke = await kubelab(['smoke', '-c', config, '--check', 'network-policy'], { env, timeoutMs: 900_000 })
  t.log(`smoke: ${Math.round((Date.now() - started) / 1000)} s`)
  t.log(smoke.stderr.split('\n').filter((l) => /NetworkPolicy/.test(l)).join('\n'))
  t.is(smoke.code, 0, smoke.stderr.split('\n').slice(-60).join('\n'))
  t.regex(smoke.stderr, /✓ +12\. NetworkPolicy: default-deny blocks across nodes/)
})

/** The README's example block, as bash: each `# -> web` / `# -> blocked` line becomes a checked expectation (retried while a policy takes effect). */
function readmeScript(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('<!-- netpol-example')
  const open = readme.indexOf('```sh\n', start)
  const close = readme.indexOf('\n```', open + 6)
  if (start < 0 || open < 0 || close < 0) throw new Error('README.md has no netpol-example block')
  const body = readme.slice(open + 6, close).split('\n').map((line) => {
    const m = /^(.*?)\s+# -> (web|blocked)$/.exec(line)
    return m ? `expect ${m[2]} ${m[1]}` : line
  })
  return [
    'set -euo pipefail',
    `kubelab() { ${JSON.stringify(process.execPath)} -- ${JSON.stringify(CLI)} "$@"; }`,
    // web: the server answered with its name; blocked: the request failed as a network failure.
    'expect() { local want=$1 got err; shift; for i in $(seq 30); do',
    '  if got=$("$@" 2>/tmp/netpol-err.$$); then :; else got=blocked; grep -qiE "timeout|deadline|refused|unreachable" /tmp/netpol-err.$$ || got="failed: $(tail -n1 /tmp/netpol-err.$$)"; fi',
    '  if [ "$got" = "$want" ]; then echo "ok ($want): $*"; rm -f /tmp/netpol-err.$$; return 0; fi; sleep 1; done',
    '  echo "FAILED: wanted $want, got $got: $*" >&2; rm -f /tmp/netpol-err.$$; return 1; }',
    ...body,
  ].join('\n')
}

test.serial('the README\'s isolation example behaves as written: deny, allow one client, policies removed', async (t) => {
  const script = readmeScript()
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile('bash', ['-c', script], { cwd: work, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', CI: '1', KUBELAB_CONFIG: config, ...env }, timeout: 600_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }))
    child.stdin?.end()
  })
  t.log(r.stdout.trim())
  t.is(r.code, 0, `${r.stdout}\n${r.stderr}`)
  t.is(r.stdout.match(/^ok \(web\)/gm)?.length, 3)
  t.is(r.stdout.match(/^ok \(blocked\)/gm)?.length, 3)
})

test.serial('a default-deny stays enforced after kubelet and containerd restart on the server\'s node', async (t) => {
  const ns = 'netpol-restart'
  const pod = (podName: string, node: string, labels: Record<string, string>) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, namespace: ns, labels },
    spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: testbox, imagePullPolicy: 'IfNotPresent' }] },
  })
  const images = await kubelab(['image', 'ls', '-c', config], { env })
  const testbox = images.stdout.split('\n').map((l) => l.split(/\s+/)[1]).find((ref) => ref?.includes('testbox'))
  t.truthy(testbox, images.stdout)
  const manifest = path.join(work, 'restart.json')
  writeFileSync(manifest, JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      pod('web', 'worker-1', { app: 'web' }), pod('client', 'worker-2', { role: 'client' }),
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny', namespace: ns }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
    ],
  }))
  t.is((await kubectl('apply', '-f', manifest)).code, 0)
  t.is((await kubectl('-n', ns, 'wait', '--for=condition=Ready', 'pod', '--all', '--timeout=120s')).code, 0)
  const ip = (await kubectl('-n', ns, 'get', 'pod', 'web', '-o', 'jsonpath={.status.podIP}')).stdout.trim()
  const get = () => kubectl('-n', ns, 'exec', 'client', '--', 'probe', 'get', `http://${ip}:8080/`, '--timeout', '3s')
  const isBlocked = async () => { const r = await get(); return r.code !== 0 && /timeout|deadline|refused|unreachable/i.test(r.stderr) }
  let blocked = false
  for (let i = 0; i < 20 && !(blocked = await isBlocked()); i++) await new Promise((r) => setTimeout(r, 1000))
  t.true(blocked, 'blocked before the restarts')
  const restart = await ssh('worker-1', 'systemctl restart containerd && systemctl restart kubelet && sleep 5 && systemctl is-active containerd kubelet kube-router')
  t.regex(restart.stdout, /^active\nactive\nactive/, restart.stderr)
  t.is((await kubectl('-n', ns, 'wait', '--for=condition=Ready', 'pod/web', '--timeout=120s')).code, 0)
  t.true(await isBlocked(), 'still blocked after kubelet and containerd restarted')
  t.true(await isBlocked(), 'and again')
  t.is((await kubectl('-n', ns, 'delete', 'networkpolicy', 'deny')).code, 0)
  let through = false
  for (let i = 0; i < 20 && !(through = (await get()).stdout.trim() === 'web'); i++) await new Promise((r) => setTimeout(r, 1000))
  t.true(through, 'the policy removed: web answers')
  await kubectl('delete', 'namespace', ns, '--wait=false')
})
