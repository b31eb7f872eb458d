// The logs bundle's pure parts: secret redaction of each kind kubelab produces (real generators:
// PEM private keys, kubeconfig client-key-data and tokens, the bootstrap-token Secret and bare
// tokens, the EncryptionConfiguration key, flags, bearer headers, TOML registry auth), with the
// non-secret parts left readable; and what is collected per role.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { generateKeyPair } from '../../scripts/lib/pki/keys.ts'
import { bootstrapTokenSecret, encryptionConfig, generateBootstrapToken, kubeconfig, parseBootstrapToken } from '../../scripts/lib/pki/index.ts'
import { configFiles, nodeCollects } from '../../scripts/lib/logs/bundle.ts'
import { REDACTED, redactSecrets } from '../../scripts/lib/logs/redact.ts'
import { providerTraits } from '../../scripts/lib/providers/traits.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n'

test('PEM private keys (PKCS#8, EC, RSA) are replaced, certificates kept', async (t) => {
  const { privatePem } = await generateKeyPair()
  const ec = execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout']).toString()
  const rsa = execFileSync('openssl', ['genrsa', '1024'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()
  t.regex(ec, /BEGIN EC PRIVATE KEY/)
  const out = redactSecrets(`${CA}${privatePem}\n${ec}\n${rsa}`)
  for (const pem of [privatePem, ec, rsa]) {
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('')
    t.false(out.includes(body.slice(0, 40)), 'key body gone')
  }
  t.true(out.includes(CA), 'certificate left alone')
  t.is(out.match(/<redacted>/g)?.length, 3)
  t.regex(out, /-----BEGIN EC PRIVATE KEY-----\n<redacted>\n-----END EC PRIVATE KEY-----/)
})

test('kubeconfig: client-key-data and token replaced; server, CA and cert data kept', async (t) => {
  const { privatePem } = await generateKeyPair()
  const cluster = { clusterName: 'lab', server: 'https://10.86.0.11:6443', caPem: CA }
  const withKey = kubeconfig(cluster, 'system:kube-proxy', { certPem: CA, keyPem: privatePem })
  const token = generateBootstrapToken()
  const withToken = kubeconfig(cluster, 'kubelet-bootstrap', { token })
  const out = redactSecrets(`${withKey}\n---\n${withToken}`)
  t.false(out.includes(b64(privatePem)))
  t.false(out.includes(token))
  t.false(out.includes(parseBootstrapToken(token)!.secret))
  t.regex(out, /client-key-data: <redacted>/)
  t.regex(out, /token: <redacted>/)
  t.true(out.includes('server: https://10.86.0.11:6443'))
  t.true(out.includes(`certificate-authority-data: ${b64(CA)}`))
  t.true(out.includes(`client-certificate-data: ${b64(CA)}`))
})

test('bootstrap token: the Secret fields and the bare token anywhere (journal lines, flags)', (t) => {
  const token = generateBootstrapToken()
  const { id, secret } = parseBootstrapToken(token)!
  const manifest = bootstrapTokenSecret(token, new Date('2030-01-01T00:00:00Z'))
  const out = redactSecrets([
    manifest,
    `Nov 27 kubelet[1]: using bootstrap token ${token} for node`,
    `kubeadm join 10.0.0.1:6443 --token ${token} --discovery-token-ca-cert-hash sha256:abc`,
    `{"token":"${token}","kind":"x"}`,
    `Authorization: Bearer ${token}`,
  ].join('\n'))
  t.false(out.includes(secret), out)
  t.regex(out, /token-secret: <redacted>/)
  t.true(out.includes(`token-id: ${id}`), 'the public id stays')
  t.regex(out, /using bootstrap token <redacted> for node/)
  t.regex(out, /--token <redacted> --discovery-token-ca-cert-hash sha256:abc/)
  t.regex(out, /"token":"<redacted>"/)
  t.regex(out, /Bearer <redacted>/)
})

test('EncryptionConfiguration: the aescbc secret replaced, the structure kept', (t) => {
  const key = Buffer.alloc(32, 7)
  const out = redactSecrets(encryptionConfig(key))
  t.false(out.includes(key.toString('base64')))
  t.regex(out, /secret: <redacted>/)
  t.regex(out, /name: key1/)
  t.regex(out, /identity: \{\}/)
})

test('TOML registry auth and passwords; harmless keys, paths and hostnames untouched', (t) => {
  const toml = '[plugins."io.containerd.cri.v1.images".registry.configs."r.example".auth]\n  username = "me"\n  password = "hunter2hunter2"\n  auth = "bWU6aHVudGVy"\n'
  const out = redactSecrets(toml)
  t.false(out.includes('hunter2hunter2'))
  t.false(out.includes('bWU6aHVudGVy'))
  t.true(out.includes('username = "me"'))
  const unit = [
    '  --tls-private-key-file=/etc/kubernetes/pki/apiserver.key \\',
    '  --service-account-key-file=/etc/kubernetes/pki/sa.pub \\',
    '  --enable-bootstrap-token-auth=true \\',
    '  --encryption-provider-config=/etc/kubernetes/encryption-config.yaml \\',
    'volumes:\n- secret:\n    secretName: foo',
    'image: registry.k8s.io/pause:3.10.1',
    'Nov 27 20:57:01.123456 control-plane kubelet[5]: I1127 node "worker-1.lab" ready',
  ].join('\n')
  t.is(redactSecrets(unit), unit)
  t.is(REDACTED, '<redacted>')
})

test('collected per role: control-plane journals only on the control plane; secret files included (redacted later)', (t) => {
  const cp = nodeCollects('control-plane').map((c) => c.what)
  const w = nodeCollects('worker').map((c) => c.what)
  for (const u of ['containerd', 'kubelet', 'kube-proxy']) {
    t.true(cp.includes(`journal-${u}`))
    t.true(w.includes(`journal-${u}`))
  }
  for (const u of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
    t.true(cp.includes(`journal-${u}`))
    t.false(w.includes(`journal-${u}`))
  }
  for (const what of ['dmesg', 'ip-route', 'ip-addr', 'iptables', 'nft', 'crictl-ps', 'crictl-images', 'systemctl-failed']) t.true(w.includes(what), what)
  t.true(configFiles('worker').includes('/var/lib/kubelet/bootstrap-kubeconfig'))
  t.true(configFiles('worker').includes('/etc/containerd/config.toml'))
  t.false(configFiles('worker').includes('/etc/kubernetes/encryption-config.yaml'))
  t.true(configFiles('control-plane').includes('/etc/kubernetes/encryption-config.yaml'))
  t.true(configFiles('control-plane').includes('/etc/systemd/system/kube-apiserver.service'))
  t.false(configFiles('worker').includes('/etc/systemd/system/kube-apiserver.service'))
  t.true(configFiles('worker', providerTraits('nspawn')).includes('/usr/local/sbin/kubelab-node-fixups'))
  t.false(configFiles('worker', providerTraits('nspawn')).includes('/usr/local/sbin/kubelab-seed'))
  t.true(configFiles('worker', providerTraits('qemu')).includes('/usr/local/sbin/kubelab-seed'))
  t.true(configFiles('worker', providerTraits('qemu')).includes('/etc/ssh/sshd_config.d/kubelab.conf'))
  t.false(configFiles('worker', providerTraits('ssh')).some((f) => f.includes('sshd_config.d')))
  t.false(configFiles('worker', providerTraits('multipass')).some((f) => f.includes('sshd_config.d')))
  // A QEMU cloud image (its info() carries no image files): none of the baked files.
  t.false(configFiles('worker', { imageFiles: [] }).some((f) => f.includes('kubelab-seed') || f.includes('sshd_config.d')))
  t.true(configFiles('worker').includes('/usr/local/sbin/kubelab-seed'), 'unknown provider: every image file')
})

test('redaction: the password in a URL (a proxy in the egress drop-in), not the rest of the URL', (t) => {
  const out = redactSecrets('Environment="HTTPS_PROXY=http://robot:pr0xy-s3cret@proxy.example:3128"\nmirror https://mirror.example:5000/v2\n')
  t.false(out.includes('pr0xy-s3cret'))
  t.regex(out, /http:\/\/robot:<redacted>@proxy\.example:3128/)
  t.regex(out, /https:\/\/mirror\.example:5000\/v2/)
})
