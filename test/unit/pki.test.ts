// The PKI store checked with the real `openssl` CLI: chains, SANs (service IP included), key usages
// per role, the kubeadm CA pin, kubeconfigs, the bootstrap token Secret and RBAC, the encryption
// config; then idempotence (a re-run writes nothing) and a SAN change that re-issues only the
// certificates carrying it. No network; one store is built once and copied where a test mutates.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import type { NodeSpec } from '../../scripts/lib/config/types.ts'
import {
  BOOTSTRAP_GROUP, ensurePki, generateBootstrapToken, parseEncryptionKey, parseKubeconfig, pkiBundle, PkiStore,
  TOKEN_PATTERN, type EnsurePkiOptions, type PkiResult,
} from '../../scripts/lib/pki/index.ts'
import type { PkiBundle } from '../../scripts/lib/converge/step.ts'
import { ROOT } from '../helpers/paths.ts'

const { config } = parseConfig(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8'), { file: 'cluster.config.yaml', env: {} })
const cp: NodeSpec = config.nodes.find((n) => n.role === 'control-plane')!
const ADMIN_SERVER = 'https://127.0.0.1:16443'
const OPTIONS: EnsurePkiOptions = { extraSans: ['127.0.0.1', config.provider.gateway, 'api.kubelab.test'], adminServer: ADMIN_SERVER }

const tmpRoot = mkdtempSync(path.join(tmpdir(), 'kubelab-pki-'))
const DIR = path.join(tmpRoot, 'pki')
let first: PkiResult
const started = Date.now()

test.before(async () => {
  first = await ensurePki(DIR, config, cp, OPTIONS)
})
test.after.always(() => rmSync(tmpRoot, { recursive: true, force: true }))

const f = (file: string, dir = DIR) => path.join(dir, file)
const read = (file: string, dir = DIR) => readFileSync(f(file, dir), 'utf8')
function openssl(args: string[], input?: string | Buffer): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] })
}
function opensslOk(args: string[]): boolean {
  try {
    openssl(args)
    return true
  } catch {
    return false
  }
}
const ext = (file: string, name: string) => openssl(['x509', '-noout', '-ext', name, '-in', f(file)])
const subject = (file: string) => openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', f(file)]).trim()
function snapshot(dir: string, files: readonly string[]) {
  return Object.fromEntries(files.map((file) => {
    const s = statSync(f(file, dir))
    return [file, { mtimeMs: s.mtimeMs, ino: s.ino, content: read(file, dir) }]
  }))
}
function copyStore(): string {
  const dir = mkdtempSync(path.join(tmpRoot, 'copy-'))
  cpSync(DIR, dir, { recursive: true, preserveTimestamps: true })
  return dir
}
const files = () => first.manifest.map((e) => e.file)

const SERVER = ['apiserver', 'etcd/server', 'etcd/peer']
const CHAINS: Array<[string, string, 'sslserver' | 'sslclient']> = [
  ['apiserver', 'ca', 'sslserver'],
  ['apiserver-kubelet-client', 'ca', 'sslclient'],
  ['apiserver-etcd-client', 'etcd/ca', 'sslclient'],
  ['front-proxy-client', 'front-proxy-ca', 'sslclient'],
  ['etcd/server', 'etcd/ca', 'sslserver'],
  ['etcd/server', 'etcd/ca', 'sslclient'],
  ['etcd/peer', 'etcd/ca', 'sslserver'],
  ['etcd/peer', 'etcd/ca', 'sslclient'],
]

for (const [leaf, ca, purpose] of CHAINS) {
  test(`openssl verify -purpose ${purpose} -CAfile ${ca}.crt ${leaf}.crt`, (t) => {
    t.regex(openssl(['verify', '-purpose', purpose, '-CAfile', f(`${ca}.crt`), f(`${leaf}.crt`)]), /: OK/)
  })
}

test('certificates do not verify against the wrong CA or for the wrong purpose', (t) => {
  t.false(opensslOk(['verify', '-CAfile', f('etcd/ca.crt'), f('apiserver.crt')]))
  t.false(opensslOk(['verify', '-CAfile', f('ca.crt'), f('etcd/server.crt')]))
  t.false(opensslOk(['verify', '-purpose', 'sslserver', '-CAfile', f('ca.crt'), f('apiserver-kubelet-client.crt')]))
  t.false(opensslOk(['verify', '-purpose', 'sslclient', '-CAfile', f('ca.crt'), f('apiserver.crt')]))
})

test('apiserver.crt carries every expected SAN, the first service IP included', (t) => {
  const san = ext('apiserver.crt', 'subjectAltName')
  const want = [
    'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local',
    `DNS:${cp.name}`, 'DNS:localhost', 'DNS:api.kubelab.test',
    'IP Address:127.0.0.1', `IP Address:${config.kubernetes.apiServiceIP}`, `IP Address:${cp.address}`,
    `IP Address:${config.provider.gateway}`,
  ]
  t.is(config.kubernetes.apiServiceIP, '10.96.0.1')
  const got = san.split('\n')[1]!.trim().split(', ').sort()
  t.deepEqual(got, [...want].sort()) // each exactly once (127.0.0.1 given twice is deduplicated)
})

test('etcd server and peer SANs: node name, localhost, 127.0.0.1, node address', (t) => {
  for (const file of ['etcd/server.crt', 'etcd/peer.crt']) {
    const got = ext(file, 'subjectAltName').split('\n')[1]!.trim().split(', ').sort()
    t.deepEqual(got, [`DNS:${cp.name}`, 'DNS:localhost', 'IP Address:127.0.0.1', `IP Address:${cp.address}`].sort(), file)
  }
})

test('subjects (CN, O) of the control-plane certificates', (t) => {
  t.is(subject('ca.crt'), 'subject=CN=kubernetes')
  t.is(subject('etcd/ca.crt'), 'subject=CN=etcd-ca')
  t.is(subject('front-proxy-ca.crt'), 'subject=CN=front-proxy-ca')
  t.is(subject('apiserver.crt'), 'subject=CN=kube-apiserver')
  t.is(subject('apiserver-kubelet-client.crt'), 'subject=CN=kube-apiserver-kubelet-client,O=system:masters')
  t.is(subject('apiserver-etcd-client.crt'), 'subject=CN=kube-apiserver-etcd-client')
  t.is(subject('front-proxy-client.crt'), 'subject=CN=front-proxy-client')
  t.is(subject('etcd/server.crt'), `subject=CN=${cp.name}`)
})

test('key usage, extended key usage and basic constraints per role', (t) => {
  for (const ca of ['ca.crt', 'etcd/ca.crt', 'front-proxy-ca.crt']) {
    t.regex(ext(ca, 'basicConstraints'), /critical\s+CA:TRUE/, ca)
    t.regex(ext(ca, 'keyUsage'), /Certificate Sign/, ca)
  }
  const eku = (file: string) => ext(file, 'extendedKeyUsage')
  t.regex(eku('apiserver.crt'), /TLS Web Server Authentication/)
  t.notRegex(eku('apiserver.crt'), /Client Authentication/)
  for (const c of ['apiserver-kubelet-client', 'apiserver-etcd-client', 'front-proxy-client']) {
    t.regex(eku(`${c}.crt`), /TLS Web Client Authentication/, c)
    t.notRegex(eku(`${c}.crt`), /Server Authentication/, c)
  }
  for (const s of SERVER.filter((x) => x.startsWith('etcd'))) t.regex(eku(`${s}.crt`), /Server Authentication, TLS Web Client Authentication/)
  for (const leaf of [...SERVER, 'apiserver-kubelet-client']) {
    t.regex(ext(`${leaf}.crt`, 'basicConstraints'), /CA:FALSE/, leaf)
    t.regex(ext(`${leaf}.crt`, 'keyUsage'), /critical\s+Digital Signature/, leaf)
    t.notRegex(ext(`${leaf}.crt`, 'keyUsage'), /Certificate Sign/, leaf)
  }
})

test('validity: CAs 10 years, leaves 1 year', (t) => {
  const days = (file: string) => {
    const end = openssl(['x509', '-noout', '-enddate', '-in', f(file)]).trim().replace('notAfter=', '')
    return (new Date(end).getTime() - started) / 86_400_000
  }
  for (const ca of ['ca.crt', 'etcd/ca.crt', 'front-proxy-ca.crt']) t.true(Math.abs(days(ca) - 3650) < 1, ca)
  for (const leaf of ['apiserver.crt', 'etcd/peer.crt', 'front-proxy-client.crt']) t.true(Math.abs(days(leaf) - 365) < 1, leaf)
})

test('private keys are PKCS#8 PEM, ECDSA P-256, mode 0600, and match their certificates', (t) => {
  for (const stem of ['ca', 'etcd/ca', 'front-proxy-ca', 'apiserver', 'apiserver-kubelet-client', 'apiserver-etcd-client', 'front-proxy-client', 'etcd/server', 'etcd/peer']) {
    const key = read(`${stem}.key`)
    t.true(key.startsWith('-----BEGIN PRIVATE KEY-----\n'), stem)
    t.is(statSync(f(`${stem}.key`)).mode & 0o777, 0o600, stem)
    t.is(statSync(f(`${stem}.crt`)).mode & 0o777, 0o644, stem)
    t.regex(openssl(['pkey', '-noout', '-text', '-in', f(`${stem}.key`)]), /NIST CURVE: P-256/, stem)
    t.is(openssl(['pkey', '-pubout', '-in', f(`${stem}.key`)]), openssl(['x509', '-noout', '-pubkey', '-in', f(`${stem}.crt`)]), stem)
  }
})

test('sa.key / sa.pub are a key pair', (t) => {
  t.true(read('sa.key').startsWith('-----BEGIN PRIVATE KEY-----'))
  t.is(statSync(f('sa.key')).mode & 0o777, 0o600)
  t.is(openssl(['pkey', '-pubout', '-in', f('sa.key')]), read('sa.pub'))
})

test('CA cert hash equals openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum', (t) => {
  const pub = openssl(['x509', '-pubkey', '-noout', '-in', f('ca.crt')])
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub })
  t.is(first.caCertHash, `sha256:${createHash('sha256').update(der).digest('hex')}`)
  t.regex(first.caCertHash, /^sha256:[0-9a-f]{64}$/)
})

const KUBECONFIGS: Array<[string, string, string, string]> = [
  ['admin.conf', ADMIN_SERVER, 'CN=kubernetes-admin,O=system:masters', 'kubernetes-admin'],
  ['controller-manager.conf', 'https://127.0.0.1:6443', 'CN=system:kube-controller-manager', 'system:kube-controller-manager'],
  ['scheduler.conf', 'https://127.0.0.1:6443', 'CN=system:kube-scheduler', 'system:kube-scheduler'],
  ['kube-proxy.conf', `https://${cp.address}:6443`, 'CN=system:kube-proxy,O=system:node-proxier', 'system:kube-proxy'],
]

for (const [file, server, subj, user] of KUBECONFIGS) {
  test(`kubeconfig ${file}: server, embedded CA, client cert signed by the CA and matching its key`, (t) => {
    const text = read(file)
    const doc = parse(text) as any
    t.is(doc.kind, 'Config')
    t.is(doc['current-context'], doc.contexts[0].name)
    t.is(doc.users[0].name, user)
    const kc = parseKubeconfig(text)!
    t.is(kc.server, server)
    t.is(kc.caPem, read('ca.crt'))
    const dir = mkdtempSync(path.join(tmpRoot, 'kc-'))
    writeFileSync(path.join(dir, 'c.crt'), kc.certPem!)
    writeFileSync(path.join(dir, 'c.key'), kc.keyPem!)
    t.regex(openssl(['verify', '-purpose', 'sslclient', '-CAfile', f('ca.crt'), path.join(dir, 'c.crt')]), /: OK/)
    t.is(openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', path.join(dir, 'c.crt')]).trim(), `subject=${subj}`)
    t.is(openssl(['pkey', '-pubout', '-in', path.join(dir, 'c.key')]), openssl(['x509', '-noout', '-pubkey', '-in', path.join(dir, 'c.crt')]))
    t.is(statSync(f(file)).mode & 0o777, 0o600)
  })
}

test('bootstrap token: Secret manifest and the bootstrap kubeconfig agree', (t) => {
  const secret = parse(read('bootstrap-token.yaml')) as any
  const data = secret.stringData
  t.is(secret.kind, 'Secret')
  t.is(secret.type, 'bootstrap.kubernetes.io/token')
  t.is(secret.metadata.namespace, 'kube-system')
  t.is(secret.metadata.name, `bootstrap-token-${data['token-id']}`)
  t.is(data['token-id'], first.tokenId)
  t.is(data['usage-bootstrap-authentication'], 'true')
  t.is(data['usage-bootstrap-signing'], 'true')
  t.is(data['auth-extra-groups'], BOOTSTRAP_GROUP)
  t.is(BOOTSTRAP_GROUP, 'system:bootstrappers:kubelab:default-node-token')
  t.regex(data.expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  t.true(Math.abs(new Date(data.expiration).getTime() - started - 24 * 3600_000) < 60_000)
  const kc = parseKubeconfig(read('bootstrap-kubeconfig'))!
  t.is(kc.token, `${data['token-id']}.${data['token-secret']}`)
  t.regex(kc.token!, TOKEN_PATTERN)
  t.is(kc.server, `https://${cp.address}:6443`)
  t.is(kc.caPem, read('ca.crt'))
  t.is(kc.certPem, undefined)
})

test('generated tokens match [a-z0-9]{6}.[a-z0-9]{16} and differ', (t) => {
  const tokens = Array.from({ length: 200 }, generateBootstrapToken)
  for (const tok of tokens) t.regex(tok, /^[a-z0-9]{6}\.[a-z0-9]{16}$/)
  t.is(new Set(tokens).size, tokens.length)
})

test('bootstrap RBAC: the three ClusterRoleBindings of the TLS-bootstrap recipe', (t) => {
  const docs = parseAllDocuments(read('bootstrap-rbac.yaml')).map((d) => (d as any).toJS())
  const summary = docs.map((d: any) => [d.kind, d.metadata.name, d.subjects[0].kind, d.subjects[0].name, d.roleRef.kind, d.roleRef.name])
  const csr = 'system:certificates.k8s.io:certificatesigningrequests'
  t.deepEqual(summary, [
    ['ClusterRoleBinding', 'create-csrs-for-bootstrapping', 'Group', 'system:bootstrappers', 'ClusterRole', 'system:node-bootstrapper'],
    ['ClusterRoleBinding', 'auto-approve-csrs-for-group', 'Group', 'system:bootstrappers', 'ClusterRole', `${csr}:nodeclient`],
    ['ClusterRoleBinding', 'auto-approve-renewals-for-nodes', 'Group', 'system:nodes', 'ClusterRole', `${csr}:selfnodeclient`],
  ])
  for (const d of docs) t.is(d.apiVersion, 'rbac.authorization.k8s.io/v1')
})

test('encryption config: aescbc key1 of 32 bytes over secrets, then identity', (t) => {
  const doc = parse(read('encryption-config.yaml')) as any
  t.is(doc.apiVersion, 'apiserver.config.k8s.io/v1')
  t.is(doc.kind, 'EncryptionConfiguration')
  t.deepEqual(doc.resources[0].resources, ['secrets'])
  const [aescbc, identity] = doc.resources[0].providers
  t.is(aescbc.aescbc.keys[0].name, 'key1')
  t.is(Buffer.from(aescbc.aescbc.keys[0].secret, 'base64').length, 32)
  t.deepEqual(identity, { identity: {} })
  t.is(parseEncryptionKey(read('encryption-config.yaml'))!.length, 32)
  t.is(statSync(f('encryption-config.yaml')).mode & 0o777, 0o600)
})

test('manifest: install paths, modes and sha256 of every file', (t) => {
  const by = Object.fromEntries(first.manifest.map((e) => [e.file, e]))
  const want: Record<string, [string, number]> = {
    'ca.crt': ['/etc/kubernetes/pki/ca.crt', 0o644],
    'ca.key': ['/etc/kubernetes/pki/ca.key', 0o600],
    'etcd/ca.crt': ['/etc/kubernetes/pki/etcd/ca.crt', 0o644],
    'etcd/server.key': ['/etc/kubernetes/pki/etcd/server.key', 0o600],
    'front-proxy-ca.crt': ['/etc/kubernetes/pki/front-proxy-ca.crt', 0o644],
    'apiserver-etcd-client.crt': ['/etc/kubernetes/pki/apiserver-etcd-client.crt', 0o644],
    'sa.pub': ['/etc/kubernetes/pki/sa.pub', 0o644],
    'admin.conf': ['/etc/kubernetes/admin.conf', 0o600],
    'controller-manager.conf': ['/etc/kubernetes/controller-manager.conf', 0o600],
    'scheduler.conf': ['/etc/kubernetes/scheduler.conf', 0o600],
    'kube-proxy.conf': ['/var/lib/kube-proxy/kubeconfig', 0o600],
    'kube-router/worker-1.conf': ['/var/lib/kube-router/kubeconfig', 0o600],
    'bootstrap-kubeconfig': ['/var/lib/kubelet/bootstrap-kubeconfig', 0o600],
    'encryption-config.yaml': ['/etc/kubernetes/encryption-config.yaml', 0o600],
  }
  for (const [file, [installPath, mode]] of Object.entries(want)) {
    t.is(by[file]?.installPath, installPath, file)
    t.is(by[file]?.mode, mode, file)
  }
  t.is(by['ca.crt']!.nodes, 'all')
  t.is(by['ca.key']!.nodes, 'control-plane')
  // 28 + a kube-router kubeconfig per node (network.policy, on by default) + metrics-server's
  // serving certificate and key (addons.metricsServer, on by default).
  t.is(first.manifest.length, 28 + config.nodes.length + 2)
  t.is(by['metrics-server.crt']?.installPath, '/etc/kubernetes/pki/metrics-server.crt')
  t.is(by['metrics-server.key']?.mode, 0o600)
  for (const e of first.manifest) {
    t.is(e.sha256, createHash('sha256').update(readFileSync(f(e.file))).digest('hex'), e.file)
    t.is(statSync(f(e.file)).mode & 0o777, e.mode, e.file)
  }
  // Every path the systemd units name is produced.
  const units = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']
    .map((u) => readFileSync(path.join(ROOT, 'templates/systemd', `${u}.service`), 'utf8')).join('\n')
  const named = [...new Set([...units.matchAll(/\/etc\/kubernetes\/[\w./-]+/g)].map((m) => m[0]))]
  const installed = new Set(first.manifest.map((e) => e.installPath))
  t.deepEqual(named.filter((p) => !installed.has(p)), [])
})

test('describe() lists every file without any secret', async (t) => {
  const text = await new PkiStore(DIR).describe()
  for (const e of first.manifest) t.true(text.includes(e.file), e.file)
  t.notRegex(text, /BEGIN|PRIVATE/)
  const token = parseKubeconfig(read('bootstrap-kubeconfig'))!.token!
  t.false(text.includes(token.split('.')[1]!))
  t.false(text.includes(parseEncryptionKey(read('encryption-config.yaml'))!.toString('base64')))
  t.regex(text, /apiserver\.crt\s+-> \/etc\/kubernetes\/pki\/apiserver\.crt\s+0644 .*CN=kube-apiserver, until \d{4}/)
  t.regex(text, /ca\.key\s+-> \/etc\/kubernetes\/pki\/ca\.key\s+0600 .*secret$/m)
})

test('a second ensurePki with the same inputs writes no file', async (t) => {
  const dir = copyStore()
  const before = snapshot(dir, files())
  const again = await ensurePki(dir, config, cp, OPTIONS)
  t.deepEqual(again.changed, [])
  t.deepEqual(snapshot(dir, files()), before)
  t.deepEqual(again.manifest, first.manifest)
  t.is(again.caCertHash, first.caCertHash)
})

test('the check stamp: a re-run takes the store as checked, yet a changed file or a date near renewal is checked in full', async (t) => {
  const dir = copyStore()
  await ensurePki(dir, config, cp, OPTIONS)
  t.true(existsSync(path.join(dir, '.verified.json')), 'a full check leaves its stamp')
  t.false((await new PkiStore(dir).files()).includes('.verified.json'), 'the stamp is no PKI file')
  // A certificate replaced by another's bytes: the stamp no longer matches, the full check repairs it.
  writeFileSync(f('apiserver.crt', dir), read('front-proxy-client.crt'))
  const repaired = await ensurePki(dir, config, cp, OPTIONS)
  t.deepEqual(repaired.changed.map((c) => c.file), ['apiserver.crt'])
  t.deepEqual((await ensurePki(dir, config, cp, OPTIONS)).changed, [])
  // 340 days on, leaves (1 year) are within 30 days of expiry: re-issued although the bytes match the stamp.
  const later = await ensurePki(dir, config, cp, { ...OPTIONS, now: new Date(Date.now() + 340 * 24 * 3600_000) })
  t.true(later.changed.some((c) => c.file === 'apiserver.crt' && /expires in/.test(c.reason)), JSON.stringify(later.changed))
})

test('a new control-plane address re-issues only the certificates carrying it; CAs and keys are kept', async (t) => {
  const dir = copyStore()
  const before = snapshot(dir, files())
  const moved = { ...cp, address: '10.77.0.99' }
  const res = await ensurePki(dir, config, moved, OPTIONS)
  const changed = res.changed.map((c) => c.file).sort()
  t.deepEqual(changed, ['apiserver.crt', 'bootstrap-kubeconfig', 'etcd/peer.crt', 'etcd/server.crt', 'kube-proxy.conf', ...config.nodes.map((n) => `kube-router/${n.name}.conf`)])
  t.regex(res.changed.find((c) => c.file === 'apiserver.crt')!.reason, /re-issued: SANs/)
  const after = snapshot(dir, files())
  for (const file of files()) {
    if (!changed.includes(file)) t.deepEqual(after[file], before[file], `${file} must be untouched`)
  }
  const san = openssl(['x509', '-noout', '-ext', 'subjectAltName', '-in', f('apiserver.crt', dir)]).split('\n')[1]!.trim().split(', ')
  t.true(san.includes('IP Address:10.77.0.99'))
  t.true(san.includes('IP Address:10.96.0.1'))
  t.false(san.includes(`IP Address:${cp.address}`))
  t.regex(openssl(['verify', '-CAfile', f('ca.crt', dir), f('apiserver.crt', dir)]), /: OK/)
  t.is(openssl(['pkey', '-pubout', '-in', f('apiserver.key', dir)]), openssl(['x509', '-noout', '-pubkey', '-in', f('apiserver.crt', dir)]))
  t.is(res.caCertHash, first.caCertHash)
  t.deepEqual((await ensurePki(dir, config, moved, OPTIONS)).changed, [])
})

test('an extra SAN re-issues apiserver.crt only', async (t) => {
  const dir = copyStore()
  const res = await ensurePki(dir, config, cp, { ...OPTIONS, extraSans: [...OPTIONS.extraSans!, '192.0.2.7'] })
  t.deepEqual(res.changed.map((c) => c.file), ['apiserver.crt'])
})

test('a CA whose key does not match is replaced and everything it signed is re-issued', async (t) => {
  const dir = copyStore()
  writeFileSync(f('front-proxy-ca.key', dir), read('etcd/ca.key'))
  const res = await ensurePki(dir, config, cp, OPTIONS)
  t.deepEqual(res.changed.map((c) => c.file).sort(), ['front-proxy-ca.crt', 'front-proxy-ca.key', 'front-proxy-client.crt'])
  t.regex(res.changed[0]!.reason, /key does not match/)
  t.regex(openssl(['verify', '-CAfile', f('front-proxy-ca.crt', dir), f('front-proxy-client.crt', dir)]), /: OK/)
})

test('an explicit bootstrap token is used; a malformed one is refused', async (t) => {
  const dir = copyStore()
  const token = 'abcdef.0123456789abcdef'
  const res = await ensurePki(dir, config, cp, { ...OPTIONS, bootstrapToken: token })
  t.is(res.tokenId, 'abcdef')
  t.deepEqual(res.changed.map((c) => c.file).sort(), ['bootstrap-kubeconfig', 'bootstrap-token.yaml'])
  t.is(parseKubeconfig(read('bootstrap-kubeconfig', dir))!.token, token)
  await t.throwsAsync(ensurePki(dir, config, cp, { ...OPTIONS, bootstrapToken: 'ABC.def' }), { instanceOf: TypeError })
})

test('an expiring bootstrap token is replaced', async (t) => {
  const dir = copyStore()
  const res = await ensurePki(dir, config, cp, { ...OPTIONS, now: new Date(Date.now() + 23.5 * 3600_000) })
  t.deepEqual(res.changed.map((c) => c.file).sort(), ['bootstrap-kubeconfig', 'bootstrap-token.yaml'])
  t.not(res.tokenId, first.tokenId)
})

test('pkiBundle: what the steps upload (PkiBundle), with a bootstrap kubeconfig per token', async (t) => {
  const dir = copyStore()
  const before = snapshot(dir, files())
  const { bundle, result } = await pkiBundle(dir, config, cp, OPTIONS)
  const typed: PkiBundle = bundle // the steps' contract, checked by tsc
  t.deepEqual(result.changed, [])
  t.deepEqual(snapshot(dir, files()), before)
  const cpPaths = typed.files('control-plane').map((x) => x.path)
  t.true(cpPaths.includes('/etc/kubernetes/pki/ca.crt'))
  t.true(cpPaths.includes('/etc/kubernetes/encryption-config.yaml'))
  t.false(cpPaths.some((p) => p.includes('bootstrap') || p.startsWith('/var/lib/')))
  for (const x of typed.files('control-plane')) {
    t.true(path.isAbsolute(x.local), x.local)
    t.is(createHash('sha256').update(readFileSync(x.local)).digest('hex'), x.sha256)
  }
  t.is(typed.ca.path, '/etc/kubernetes/pki/ca.crt')
  t.is(typed.kubeProxyKubeconfig.path, '/var/lib/kube-proxy/kubeconfig')
  const kc = parseKubeconfig(typed.bootstrapKubeconfig('abcdef.0123456789abcdef'))!
  t.is(kc.token, 'abcdef.0123456789abcdef')
  t.is(kc.server, `https://${cp.address}:6443`)
  t.is(kc.caPem, read('ca.crt'))
})
