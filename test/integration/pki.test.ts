// The issued PKI accepted by the real programs: etcd (client and peer TLS with client-cert auth)
// and kube-apiserver started on 127.0.0.1 with the flags of templates/systemd/kube-apiserver.service
// and only files from the store; then every kubeconfig authenticates as its identity, the
// bootstrap token (Secret + RBAC applied) authenticates as a bootstrapper allowed to create CSRs,
// and a Secret lands in etcd encrypted with aescbc key1. Uses the binaries `kubelab artifacts
// build` leaves in ~/.cache/kubelab; skipped with a printed reason when they are absent.
import test from 'ava'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { ensurePki, parseKubeconfig, type PkiResult } from '../../scripts/lib/pki/index.ts'
import { ROOT } from '../helpers/paths.ts'
import { freePort } from '../../scripts/lib/providers/common/process.ts'

const run = promisify(execFile)
const CACHE = process.env.KUBELAB_CACHE ?? path.join(homedir(), '.cache/kubelab')
function cached(prefix: string, file: string): string | undefined {
  const dir = path.join(CACHE, 'build')
  if (!existsSync(dir)) return undefined
  const hit = readdirSync(dir).filter((d) => d.startsWith(prefix) && existsSync(path.join(dir, d, file))).sort().pop()
  return hit ? path.join(dir, hit, file) : undefined
}
const { config } = parseConfig(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8'), { file: 'cluster.config.yaml', env: {} })
const minor = config.kubernetes.version.replace(/\.\d+$/, '')
const bins = {
  etcd: cached('etcd-', 'etcd'),
  apiserver: cached(`kubernetes-${minor}`, 'kube-apiserver') ?? cached('kubernetes-', 'kube-apiserver'),
  kubectl: cached(`kubernetes-${minor}`, 'kubectl') ?? cached('kubernetes-', 'kubectl'),
}
const missing = Object.entries(bins).filter(([, p]) => !p).map(([n]) => n)
if (missing.length > 0) console.log(`pki integration skipped: no ${missing.join(', ')} under ${CACHE}/build (run kubelab artifacts build)`)
const maybe = missing.length > 0 ? test.skip : test.serial

const work = mkdtempSync(path.join(tmpdir(), 'kubelab-pki-it-'))
const DIR = path.join(work, 'pki')
const procs: ChildProcess[] = []
let apiPort = 0
let etcdPort = 0
let pki: PkiResult

function start(bin: string, args: string[], log: string): ChildProcess {
  const fd = openSync(path.join(work, log), 'a')
  const p = spawn(bin, args, { stdio: ['ignore', fd, fd] })
  procs.push(p)
  return p
}

const p = (file: string) => path.join(DIR, file)
const kubectl = (kubeconfig: string, ...args: string[]) =>
  run(bins.kubectl!, ['--kubeconfig', p(kubeconfig), '--server', `https://127.0.0.1:${apiPort}`, ...args], { timeout: 30_000 })

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 250))
  }
  const logs = ['etcd.log', 'apiserver.log'].map((l) => existsSync(path.join(work, l)) ? readFileSync(path.join(work, l), 'utf8').split('\n').slice(-15).join('\n') : '').join('\n')
  throw new Error(`timed out waiting for ${what}\n${logs}`)
}

test.before(async () => {
  if (missing.length > 0) return
  apiPort = await freePort()
  etcdPort = await freePort()
  const peerPort = await freePort()
  const cp = config.nodes.find((n) => n.role === 'control-plane')!
  pki = await ensurePki(DIR, config, cp, { extraSans: ['127.0.0.1'], adminServer: `https://127.0.0.1:${apiPort}` })
  const etcdUrl = `https://127.0.0.1:${etcdPort}`
  start(bins.etcd!, [
    `--name=${cp.name}`, `--data-dir=${path.join(work, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=https://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=https://127.0.0.1:${peerPort}`,
    `--initial-cluster=${cp.name}=https://127.0.0.1:${peerPort}`, '--initial-cluster-state=new',
    `--cert-file=${p('etcd/server.crt')}`, `--key-file=${p('etcd/server.key')}`, `--trusted-ca-file=${p('etcd/ca.crt')}`,
    '--client-cert-auth=true',
    `--peer-cert-file=${p('etcd/peer.crt')}`, `--peer-key-file=${p('etcd/peer.key')}`, `--peer-trusted-ca-file=${p('etcd/ca.crt')}`,
    '--peer-client-cert-auth=true',
  ], 'etcd.log')
  // The flags of templates/systemd/kube-apiserver.service, with the store's paths and local ports.
  start(bins.apiserver!, [
    '--advertise-address=127.0.0.1', '--bind-address=127.0.0.1', `--secure-port=${apiPort}`,
    '--allow-privileged=true', '--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction',
    '--enable-bootstrap-token-auth=true', `--client-ca-file=${p('ca.crt')}`,
    `--etcd-servers=${etcdUrl}`, `--etcd-cafile=${p('etcd/ca.crt')}`,
    `--etcd-certfile=${p('apiserver-etcd-client.crt')}`, `--etcd-keyfile=${p('apiserver-etcd-client.key')}`,
    `--encryption-provider-config=${p('encryption-config.yaml')}`,
    `--kubelet-client-certificate=${p('apiserver-kubelet-client.crt')}`, `--kubelet-client-key=${p('apiserver-kubelet-client.key')}`,
    `--proxy-client-cert-file=${p('front-proxy-client.crt')}`, `--proxy-client-key-file=${p('front-proxy-client.key')}`,
    `--requestheader-client-ca-file=${p('front-proxy-ca.crt')}`, '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-', '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    `--service-account-issuer=https://kubernetes.default.svc.${config.kubernetes.clusterDomain}`,
    `--service-account-key-file=${p('sa.pub')}`, `--service-account-signing-key-file=${p('sa.key')}`,
    `--service-cluster-ip-range=${config.kubernetes.serviceCIDR}`,
    `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`,
  ], 'apiserver.log')
  await waitFor('kube-apiserver /readyz', async () => (await kubectl('admin.conf', 'get', '--raw', '/readyz')).stdout.trim() === 'ok', 90_000)
})

test.after.always(async () => {
  for (const proc of procs.reverse()) {
    if (proc.exitCode === null && proc.pid) {
      const exited = new Promise((r) => proc.once('exit', r))
      proc.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
      if (proc.exitCode === null) proc.kill('SIGKILL')
    }
  }
  rmSync(work, { recursive: true, force: true })
})

maybe('every kubeconfig authenticates as its identity over a verified TLS connection', async (t) => {
  const whoami = async (kc: string) => JSON.parse((await kubectl(kc, 'auth', 'whoami', '-o', 'json')).stdout).status.userInfo
  const admin = await whoami('admin.conf')
  t.is(admin.username, 'kubernetes-admin')
  t.true(admin.groups.includes('system:masters'))
  t.is((await whoami('controller-manager.conf')).username, 'system:kube-controller-manager')
  t.is((await whoami('scheduler.conf')).username, 'system:kube-scheduler')
  const proxy = await whoami('kube-proxy.conf')
  t.is(proxy.username, 'system:kube-proxy')
  t.true(proxy.groups.includes('system:node-proxier'))
  // admin.conf as written (its own server URL, no override) verifies the serving cert for 127.0.0.1.
  t.is((await run(bins.kubectl!, ['--kubeconfig', p('admin.conf'), 'get', '--raw', '/livez'])).stdout.trim(), 'ok')
})

maybe('the in-cluster `kubernetes` Service is the first service IP, which apiserver.crt carries', async (t) => {
  const svc = JSON.parse((await kubectl('admin.conf', 'get', 'service', 'kubernetes', '-o', 'json')).stdout)
  t.is(svc.spec.clusterIP, config.kubernetes.apiServiceIP)
  const san = (await run('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', p('apiserver.crt')])).stdout
  t.true(san.includes(`IP Address:${svc.spec.clusterIP}`))
})

maybe('bootstrap token Secret + RBAC: the token authenticates as a bootstrapper that may create CSRs', async (t) => {
  await kubectl('admin.conf', 'apply', '-f', p('bootstrap-token.yaml'))
  await kubectl('admin.conf', 'apply', '-f', p('bootstrap-rbac.yaml'))
  const kc = parseKubeconfig(readFileSync(p('bootstrap-kubeconfig'), 'utf8'))!
  const [id] = kc.token!.split('.')
  t.is(id, pki.tokenId)
  let user: { username: string; groups: string[] } | undefined
  await waitFor('bootstrap token authentication', async () => {
    user = JSON.parse((await kubectl('bootstrap-kubeconfig', 'auth', 'whoami', '-o', 'json')).stdout).status.userInfo
    return true
  }, 15_000)
  t.is(user!.username, `system:bootstrap:${id}`)
  t.true(user!.groups.includes('system:bootstrappers'))
  t.true(user!.groups.includes('system:bootstrappers:kubelab:default-node-token'))
  const can = await kubectl('bootstrap-kubeconfig', 'auth', 'can-i', 'create', 'certificatesigningrequests.certificates.k8s.io')
  t.is(can.stdout.trim(), 'yes')
})

maybe('a Secret is stored in etcd encrypted with aescbc key1', async (t) => {
  await kubectl('admin.conf', 'create', 'secret', 'generic', 'kubelab-pki-it', '--from-literal=mykey=mydata')
  const key = Buffer.from('/registry/secrets/default/kubelab-pki-it').toString('base64')
  const r = await run('curl', ['-sS', '--fail', '--cacert', p('etcd/ca.crt'), '--cert', p('apiserver-etcd-client.crt'), '--key', p('apiserver-etcd-client.key'),
    `https://127.0.0.1:${etcdPort}/v3/kv/range`, '-d', JSON.stringify({ key })])
  const value = Buffer.from(JSON.parse(r.stdout).kvs[0].value, 'base64')
  t.true(value.subarray(0, 22).toString('latin1').startsWith('k8s:enc:aescbc:v1:key1'))
  t.false(value.includes(Buffer.from('mydata')))
})
