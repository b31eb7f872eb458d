// `kubelab logs` on a real cluster: the repo's config as its own cluster (1 control plane + 1
// worker on nspawn, own state dir and lab network). The bundle holds each node's kubelet journal,
// the cluster-wide reads and an index without problems; none of the cluster's real secrets (the
// bootstrap token on the node, every private key, client-key-data, the encryption key) appears in
// any file; a command that fails on a node becomes a problem without stopping the bundle.
// On the same cluster (when e2e.test is already built: building it takes 20+ minutes, so it is
// never built here), `kubelab conformance --mode quick` runs one upstream [Conformance] test
// from the lab namespace and it passes.
import test from 'ava'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { OTHER_ADDONS_OFF } from '../helpers/addons.ts'
import { kubelab } from '../helpers/cli.ts'
import { cacheDir } from '../../scripts/lib/artifacts/cache.ts'
import { hostArch } from '../../scripts/lib/artifacts/lock.ts'
import { ROOT } from '../helpers/paths.ts'

const name = 'h3logs'
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-logs-'))
const config = path.join(work, 'cluster.config.yaml')
const state = path.join(work, 'state')
const env = { KUBELAB_STATE: state }
const base = parse(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8')) as { nodes: unknown[]; kubernetes: { version: string } } & Record<string, unknown>
// The addons a logs bundle does not need stay off (CI time); CoreDNS stays (its pods are in the bundle).
writeFileSync(config, JSON.stringify({ ...base, name, provider: { type: 'nspawn', network: '10.86.0.0/24' }, nodes: base.nodes.slice(0, 2), addons: { ...base.addons as object, ...OTHER_ADDONS_OFF } }))

interface Index { cluster: string; nodes: string[]; files: { file: string; node: string; what: string; ok: boolean; bytes: number }[]; problems: string[] }

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(path.join(dir, f)).isDirectory() ? walk(path.join(dir, f)) : [path.join(dir, f)]))
}

/** Every secret the cluster really has: key bodies, client-key-data, tokens, the encryption key. */
async function clusterSecrets(): Promise<Map<string, string>> {
  const secrets = new Map<string, string>()
  const pki = path.join(state, name, 'pki')
  for (const file of walk(pki)) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----\n([\s\S]*?)-----END/g)) {
      for (const line of m[1]!.split('\n').filter((l) => l.length >= 32)) secrets.set(line, `key body in ${path.relative(pki, file)}`)
    }
    for (const m of text.matchAll(/(client-key-data|token|secret|token-secret): "?([^\s"]{16,})/g)) secrets.set(m[2]!, `${m[1]} in ${path.relative(pki, file)}`)
  }
  // The token the worker actually holds (a fresh join token, not necessarily the one in the state).
  const onNode = await kubelab(['ssh', 'worker-1', '-c', config, '--', 'cat', '/var/lib/kubelet/bootstrap-kubeconfig'], { env })
  const token = /token: (\S+)/.exec(onNode.stdout)?.[1]
  if (!token) throw new Error(`no token in the worker's bootstrap kubeconfig: ${onNode.stderr}`)
  secrets.set(token, 'bootstrap token on worker-1')
  secrets.set(token.split('.')[1]!, 'bootstrap token secret half on worker-1')
  return secrets
}

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env, timeoutMs: 120_000 })
  rmSync(work, { recursive: true, force: true })
})

test.serial('up: 1 control plane + 1 worker', async (t) => {
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 600_000 })
  t.is(up.code, 0, up.stderr)
})

test.serial('logs -o DIR --json: kubelet journal per node, cluster files, index, no secret anywhere', async (t) => {
  const dir = path.join(work, 'bundle')
  const r = await kubelab(['logs', '-c', config, '-o', dir, '--json'], { env, timeoutMs: 180_000 })
  t.is(r.code, 0, r.stderr)
  const index = JSON.parse(r.stdout) as Index
  t.deepEqual(JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')), index)
  t.is(index.cluster, name)
  t.deepEqual(index.nodes.sort(), ['control-plane', 'worker-1'])
  t.deepEqual(index.problems, [], 'a healthy cluster gives a bundle without problems')
  for (const node of ['control-plane', 'worker-1']) {
    const journal = readFileSync(path.join(dir, node, 'journal-kubelet.txt'), 'utf8')
    t.regex(journal, new RegExp(`${node} kubelet\\[\\d+\\]: `), `${node}: kubelet journal`)
    t.regex(readFileSync(path.join(dir, node, 'ip-route.txt'), 'utf8'), /10\.86\.0\./)
    t.regex(readFileSync(path.join(dir, node, 'crictl-images.txt'), 'utf8'), /pause/)
    t.regex(readFileSync(path.join(dir, node, 'file-var-lib-kubelet-kubelet-config.yaml.txt'), 'utf8'), /kind: KubeletConfiguration/)
  }
  t.regex(readFileSync(path.join(dir, 'control-plane', 'journal-kube-apiserver.txt'), 'utf8'), /kube-apiserver\[\d+\]: /)
  t.false(index.files.some((f) => f.file === 'worker-1/journal-etcd.txt'), 'no control-plane journals from a worker')
  t.regex(readFileSync(path.join(dir, 'cluster', 'nodes.txt'), 'utf8'), /control-plane\s+Ready[\s\S]*worker-1\s+Ready/)
  t.regex(readFileSync(path.join(dir, 'cluster', 'nodes-yaml.txt'), 'utf8'), /kind: List/)
  t.regex(readFileSync(path.join(dir, 'cluster', 'pods.txt'), 'utf8'), /NAMESPACE|No resources found/)
  t.regex(readFileSync(path.join(dir, 'cluster', 'csr.txt'), 'utf8'), /Approved,Issued/)
  t.true(index.files.some((f) => f.file === 'cluster/events.txt' && f.ok))
  // The secret-holding files were collected, and redacted.
  t.regex(readFileSync(path.join(dir, 'worker-1', 'file-var-lib-kubelet-bootstrap-kubeconfig.txt'), 'utf8'), /token: <redacted>/)
  t.regex(readFileSync(path.join(dir, 'worker-1', 'file-var-lib-kube-proxy-kubeconfig.txt'), 'utf8'), /client-key-data: <redacted>/)
  t.regex(readFileSync(path.join(dir, 'control-plane', 'file-etc-kubernetes-encryption-config.yaml.txt'), 'utf8'), /secret: <redacted>/)

  const secrets = await clusterSecrets()
  t.true(secrets.size > 20, `found the cluster's secrets (${secrets.size})`)
  const files = walk(dir)
  t.is(files.length, index.files.length + 1)
  const leaks: string[] = []
  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    for (const [secret, what] of secrets) if (text.includes(secret)) leaks.push(`${path.relative(dir, file)}: ${what}`)
    for (const m of text.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----\n(.*)/g)) if (m[1] !== '<redacted>') leaks.push(`${path.relative(dir, file)}: a PEM private key`)
  }
  t.deepEqual(leaks, [])
})

const e2e = path.join(cacheDir(process.env), 'build', `e2e-test-${base.kubernetes.version}-${hostArch()}`, 'e2e.test')
const withE2e = existsSync(e2e) ? test.serial : test.serial.skip
if (!existsSync(e2e)) console.log(`conformance test skipped: ${e2e} is not built (npx kubelab conformance builds it)`)

withE2e('conformance --mode quick: one [Conformance] pod test passes from the lab namespace', async (t) => {
  const dir = path.join(work, 'conformance')
  const junit = path.join(work, 'junit.xml')
  const r = await kubelab(['conformance', '-c', config, '-o', dir, '--junit', junit, '--json'], { env, timeoutMs: 900_000 })
  t.is(r.code, 0, `${r.stderr}\n${r.stdout}`)
  const result = JSON.parse(r.stdout) as { ok: boolean; where: string; passed: string[]; failed: string[] }
  t.true(result.ok)
  t.is(result.where, `network namespace kubelab-${name}`)
  t.deepEqual(result.passed, ['[sig-node] Pods should get a host IP [NodeConformance] [Conformance]'])
  t.deepEqual(result.failed, [])
  t.regex(readFileSync(junit, 'utf8'), /<testsuite [^>]*tests="\d+"/)
  t.regex(readFileSync(path.join(dir, 'e2e.log'), 'utf8'), /SUCCESS! -- 1 Passed \| 0 Failed/)
})

test.serial('logs NODE: one node plus the cluster reads; a failing command is a problem, not a failure', async (t) => {
  const hide = await kubelab(['ssh', 'worker-1', '-c', config, '--', 'mv "$(command -v crictl)" /root/crictl.hidden'], { env })
  t.is(hide.code, 0, hide.stderr)
  const dir = path.join(work, 'bundle-worker')
  const r = await kubelab(['logs', 'worker-1', '-c', config, '-o', dir, '--json'], { env, timeoutMs: 180_000 })
  t.is(r.code, 0, r.stderr)
  const index = JSON.parse(r.stdout) as Index
  t.deepEqual(index.nodes, ['worker-1'])
  t.deepEqual(readdirSync(dir).sort(), ['cluster', 'index.json', 'worker-1'])
  t.deepEqual(index.problems.map((p) => p.split(':')[0] + ':' + p.split(':')[1]).sort(), ['worker-1: crictl-images', 'worker-1: crictl-ps'])
  t.regex(index.problems.join('\n'), /crictl: command not found/)
  t.regex(readFileSync(path.join(dir, 'worker-1', 'journal-kubelet.txt'), 'utf8'), /worker-1 kubelet\[\d+\]: /)
  t.true(index.files.some((f) => f.file === 'cluster/nodes.txt' && f.ok))
  t.regex(r.stderr, /! worker-1: crictl-ps/)
  await kubelab(['ssh', 'worker-1', '-c', config, '--', 'mv /root/crictl.hidden /usr/local/bin/crictl'], { env })
})
