// Egress through an uplink into a "WAN" network namespace this test makes itself (never the host's
// own namespace): its servers sit on documentation addresses that exist only there: dnsmasq
// (198.51.100.53), an HTTP server (198.51.100.80) and a distribution registry with TLS from the
// test's own CA and htpasswd credentials (198.51.100.5, named registry.wan.test and
// mirror.wan.test). On nspawn machines (control plane + 1 worker):
//   1. egress on (KUBELAB_UPLINK_NETNS, KUBELAB_DNS): a pod resolves a WAN name through CoreDNS and
//      fetches from the HTTP server; Deployments pull from the WAN registry with credentials from
//      .env, directly and as docker.io's configured mirror;
//   2. `up` with KUBELAB_EGRESS=off: the uplink and every rule kubelab put in the WAN namespace are
//      gone, and nothing reaches the WAN servers (their own logs say so);
//   3. egress on again, then `down`: the WAN namespace is as the test made it.
import test from 'ava'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { OTHER_ADDONS_OFF } from '../helpers/addons.ts'
import { kubelab } from '../helpers/cli.ts'
import { TESTBOX_IMAGE } from '../../scripts/lib/images/workloads.ts'

const run = promisify(execFile)
const name = `klwan${process.pid}`
const wan = `klwan-${process.pid}`
const ADDR = { dns: '198.51.100.53', web: '198.51.100.80', registry: '198.51.100.5' }
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-egress-'))
const config = path.join(work, 'cluster.config.yaml')
const logs = { dns: path.join(work, 'dnsmasq.log'), web: path.join(work, 'web.log') }
const base = { KUBELAB_STATE: path.join(work, 'state') }
const egressOn = { ...base, KUBELAB_EGRESS: 'on', KUBELAB_UPLINK_NETNS: wan, KUBELAB_DNS: ADDR.dns }
const egressOff = { ...base, KUBELAB_EGRESS: 'off' }
const servers: ChildProcess[] = []

const inWan = (cmd: string, args: string[]) => run('ip', ['netns', 'exec', wan, cmd, ...args])
const kubectl = (env: Record<string, string>, ...args: string[]) => kubelab(['kubectl', '-c', config, '--', ...args], { env, timeoutMs: 240_000 })
/** A shell command in the probe pod; its output and exit code. */
const inPod = (cmd: string) => kubectl(egressOff, 'exec', 'probe', '--', 'sh', '-c', cmd)
const wanRules = async () => (await inWan('iptables-save', [])).stdout.split('\n').filter((l) => l.includes(`kubelab:${name}`))
const wanLinks = async () => (await inWan('ip', ['-o', 'link', 'show'])).stdout.split('\n').filter((l) => / klu[0-9a-f]{10}[@:]/.test(l))
const wanForwarding = async () => (await inWan('sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim()
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [])

function startServer(cmd: string, args: string[]): void {
  const p = spawn('ip', ['netns', 'exec', wan, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  p.stderr!.on('data', (d: Buffer) => writeFileSync(path.join(work, `${path.basename(cmd)}.stderr`), d, { flag: 'a' }))
  servers.push(p)
}

async function waitTcp(address: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await inWan('bash', ['-c', `exec 3<>/dev/tcp/${address}/${port}`]).then(() => true, () => false)
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`nothing listens on ${address}:${port} in ${wan}`)
}

const deployment = (app: string, image: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: app, namespace: 'default' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app } },
    template: { metadata: { labels: { app } }, spec: { containers: [{ name: 'app', image, imagePullPolicy: 'Always' }] } },
  },
})

test.before(async () => {
  // The WAN: its own namespace, the servers' addresses on its loopback (no dummy links here).
  await run('ip', ['netns', 'add', wan])
  await inWan('ip', ['link', 'set', 'lo', 'up'])
  for (const a of Object.values(ADDR)) await inWan('ip', ['addr', 'add', `${a}/32`, 'dev', 'lo'])
  startServer('dnsmasq', ['--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${ADDR.dns}`,
    '--user=root', '--pid-file=', '--log-queries', `--log-facility=${logs.dns}`,
    '--local=/wan.test/', `--address=/web.wan.test/${ADDR.web}`, `--address=/registry.wan.test/${ADDR.registry}`, `--address=/mirror.wan.test/${ADDR.registry}`])
  const web = `require('http').createServer((q, r) => { require('fs').appendFileSync(${JSON.stringify(logs.web)}, q.method + ' ' + q.url + '\\n'); r.end('hello from the wan\\n') }).listen(80, ${JSON.stringify(ADDR.web)})`
  startServer(process.execPath, ['-e', web])

  // The registry: TLS from the test's own CA, htpasswd credentials.
  const tls = path.join(work, 'tls')
  mkdirSync(tls)
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=kubelab egress test CA', '-keyout', `${tls}/ca.key`, '-out', `${tls}/ca.crt`])
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=registry.wan.test', '-keyout', `${tls}/tls.key`, '-out', `${tls}/tls.csr`])
  writeFileSync(`${tls}/san.ext`, `subjectAltName=DNS:registry.wan.test,DNS:mirror.wan.test,IP:${ADDR.registry}\n`)
  await run('openssl', ['x509', '-req', '-in', `${tls}/tls.csr`, '-CA', `${tls}/ca.crt`, '-CAkey', `${tls}/ca.key`, '-CAcreateserial', '-days', '1', '-extfile', `${tls}/san.ext`, '-out', `${tls}/tls.crt`])
  await run('htpasswd', ['-Bbc', path.join(work, 'htpasswd'), 'robot', 'wan-s3cret'])
  writeFileSync(path.join(work, 'registry.yml'), [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${path.join(work, 'registry-data')} } }`,
    `http: { addr: "${ADDR.registry}:443", tls: { certificate: ${tls}/tls.crt, key: ${tls}/tls.key } }`,
    `auth: { htpasswd: { realm: wan, path: ${path.join(work, 'htpasswd')} } }`,
    '',
  ].join('\n'))
  // The registry binary kubelab builds for addons.registry (from its Go module), found through the artifacts list.
  const regConfig = path.join(work, 'registry-artifacts.yaml')
  writeFileSync(regConfig, JSON.stringify({ name: 'regbin', addons: { registry: { enabled: true } }, nodes: [{ name: 'cp', role: 'control-plane' }, { name: 'w', role: 'worker' }] }))
  const fetched = await kubelab(['artifacts', 'fetch', '-c', regConfig], { env: egressOff, timeoutMs: 900_000 })
  if (fetched.code !== 0) throw new Error(`artifacts fetch: ${fetched.stderr}`)
  const list = JSON.parse((await kubelab(['artifacts', 'list', '-c', regConfig, '--json'], { env: egressOff })).stdout) as { artifacts: { component: string; path: string }[] }
  startServer(list.artifacts.find((a) => a.component === 'registry')!.path, ['serve', path.join(work, 'registry.yml')])
  await Promise.all([waitTcp(ADDR.web, 80), waitTcp(ADDR.registry, 443)])

  // Two images in the WAN registry, pushed from inside the WAN with a real client and the credentials.
  const images = path.join(process.env.KUBELAB_CACHE ?? path.join(homedir(), '.cache', 'kubelab'), 'images')
  const tar = readdirSync(images).find((f) => f.startsWith('testbox') && f.endsWith('.tar'))
  if (!tar) throw new Error(`no testbox OCI tar in ${images}`)
  const certs = path.join(work, 'skopeo-certs')
  mkdirSync(certs)
  writeFileSync(path.join(certs, 'ca.crt'), readFileSync(`${tls}/ca.crt`))
  for (const ref of ['team/app:1', 'library/mirrored:1']) {
    await inWan('skopeo', ['copy', '--dest-creds', 'robot:wan-s3cret', '--dest-cert-dir', certs, `oci-archive:${path.join(images, tar)}`, `docker://${ADDR.registry}/${ref}`])
  }

  writeFileSync(path.join(work, '.env'), 'WAN_USER=robot\nWAN_PASS=wan-s3cret\n')
  const creds = { ca: `${tls}/ca.crt`, credentials: { usernameEnv: 'WAN_USER', passwordEnv: 'WAN_PASS' } }
  writeFileSync(config, JSON.stringify({
    name,
    provider: { type: 'nspawn', network: '10.88.0.0/24' },
    addons: OTHER_ADDONS_OFF,
    egress: { uplinkCIDR: '100.64.200.0/30' },
    registries: { 'registry.wan.test': creds, 'mirror.wan.test': creds, 'docker.io': { mirrors: ['https://mirror.wan.test'] } },
    nodes: [{ name: 'control-plane', role: 'control-plane' }, { name: 'worker-1', role: 'worker' }],
  }))
})

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env: egressOff, timeoutMs: 300_000 })
  for (const p of servers) if (p.exitCode === null) p.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 300))
  await run('ip', ['netns', 'del', wan]).catch(() => undefined)
  rmSync(work, { recursive: true, force: true })
})

test.serial('egress on: a pod resolves a WAN name through CoreDNS and fetches from the WAN web server', async (t) => {
  t.is(await wanForwarding(), '0', 'a new namespace starts with forwarding off')
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env: egressOn, timeoutMs: 900_000 })
  t.is(up.code, 0, up.stderr)
  t.is((await wanLinks()).length, 1, 'one uplink veth in the WAN namespace')
  t.is(await wanForwarding(), '1')
  t.true((await wanRules()).length >= 3, (await wanRules()).join('\n'))

  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe' }, spec: { nodeName: 'worker-1', containers: [{ name: 'p', image: TESTBOX_IMAGE, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] } }
  writeFileSync(path.join(work, 'probe.json'), JSON.stringify(pod))
  t.is((await kubectl(egressOff, 'apply', '-f', path.join(work, 'probe.json'))).code, 0)
  const ready = await kubectl(egressOff, 'wait', '--for=condition=Ready', '--timeout=120s', 'pod/probe')
  t.is(ready.code, 0, ready.stderr)
  const dns = await inPod('nslookup -type=a web.wan.test')
  t.is(dns.code, 0, dns.stdout + dns.stderr)
  t.regex(dns.stdout, new RegExp(`Address:\\s+${ADDR.web.replaceAll('.', '\\.')}`))
  t.true(lines(logs.dns).some((l) => l.includes('query[A] web.wan.test')), 'the WAN resolver saw the query')
  const get = await inPod('probe get http://web.wan.test/hello --timeout 10s')
  t.is(get.code, 0, get.stderr)
  t.is(get.stdout, 'hello from the wan\n')
  t.true(lines(logs.web).includes('GET /hello'))
  // In-cluster names still resolve (the cluster domain stays CoreDNS's own).
  t.is((await inPod('nslookup -type=a kubernetes.default.svc.cluster.local')).code, 0)
})

test.serial('egress on: Deployments pull from the WAN registry with credentials from .env, directly and through a docker.io mirror', async (t) => {
  for (const [app, image] of [['wanapp', 'registry.wan.test/team/app:1'], ['mirrored', 'docker.io/library/mirrored:1']] as const) {
    writeFileSync(path.join(work, `${app}.json`), JSON.stringify(deployment(app, image)))
    t.is((await kubectl(egressOff, 'apply', '-f', path.join(work, `${app}.json`))).code, 0)
  }
  for (const app of ['wanapp', 'mirrored']) {
    const r = await kubectl(egressOff, 'wait', '--for=condition=Available', '--timeout=180s', `deployment/${app}`)
    const pods = await kubectl(egressOff, 'describe', 'pods', '-l', `app=${app}`)
    t.is(r.code, 0, `${app}: ${r.stderr}\n${pods.stdout}`)
  }
})

test.serial('KUBELAB_EGRESS=off: the uplink and its rules are gone and nothing reaches the WAN servers', async (t) => {
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env: egressOff, timeoutMs: 600_000 })
  t.is(up.code, 0, up.stderr)
  t.deepEqual(await wanLinks(), [])
  t.deepEqual(await wanRules(), [])
  t.is(await wanForwarding(), '0', 'forwarding back off: kubelab had turned it on')
  const [dnsBefore, webBefore] = [lines(logs.dns).length, lines(logs.web).length]
  t.not((await inPod('nslookup -type=a web.wan.test')).code, 0, 'a WAN name no longer resolves')
  t.not((await inPod(`probe get http://${ADDR.web}/ --timeout 3s`)).code, 0, 'the WAN web server is not reachable by address')
  t.not((await inPod(`nslookup -type=a -timeout=2 web.wan.test ${ADDR.dns}`)).code, 0, 'nor the WAN resolver')
  t.is(lines(logs.dns).length, dnsBefore, 'the WAN resolver saw nothing')
  t.is(lines(logs.web).length, webBefore, 'the WAN web server saw nothing')
})

test.serial('egress on again, then down: the WAN namespace holds nothing of kubelab', async (t) => {
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env: egressOn, timeoutMs: 600_000 })
  t.is(up.code, 0, up.stderr)
  const again = await inPod('probe get http://web.wan.test/again --timeout 10s')
  t.is(again.stdout, 'hello from the wan\n', again.stderr)
  const down = await kubelab(['down', '-c', config], { env: egressOff, timeoutMs: 300_000 })
  t.is(down.code, 0, down.stderr)
  t.deepEqual(await wanLinks(), [])
  t.deepEqual(await wanRules(), [])
  t.is(await wanForwarding(), '0')
})
