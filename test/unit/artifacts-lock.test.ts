// The versions lock: the shipped file parses, URLs render per arch exactly as upstream names them,
// checksum files of every upstream style parse, and a bad lock reports every problem at once.
import test from 'ava'
import {
  ARCHES, assetUrl, checksumUrl, loadLock, memberPath, minorFor, mirrorPath, parseChecksumFile, parseLock,
  renderTemplate, type LockComponent,
} from '../../scripts/lib/artifacts/lock.ts'
import { neededComponents } from '../../scripts/lib/artifacts/resolve.ts'
import type { ClusterConfig } from '../../scripts/lib/config/types.ts'
import { ArtifactError } from '../../scripts/lib/errors.ts'
import { DEFAULT_KUBERNETES_VERSION, SUPPORTED_MINORS } from '../../scripts/lib/versions.ts'

const lock = loadLock()
const comp = (minor: string, name: string): LockComponent => lock.minors.find((m) => m.minor === minor)!.components.find((c) => c.name === name)!

test('the shipped lock covers every supported minor; the default is the default Kubernetes version', (t) => {
  const minors = lock.minors.map((m) => m.minor).sort()
  const want = []
  for (let m = SUPPORTED_MINORS.oldest; m <= SUPPORTED_MINORS.newest; m++) want.push(`1.${m}`)
  t.deepEqual(minors, want)
  t.is(minorFor(lock, DEFAULT_KUBERNETES_VERSION).minor, lock.defaultMinor)
  for (const m of lock.minors) {
    t.deepEqual(m.components.map((c) => c.name), [
      'kubelet', 'kube-proxy', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl',
      'containerd', 'runc', 'cni-plugins', 'crictl', 'etcd', 'coredns', 'registry', 'kube-router',
      'local-path-provisioner', 'metrics-server', 'metallb-controller', 'metallb-speaker', 'traefik',
    ])
    for (const c of m.components.filter((x) => x.build === 'kubernetes')) t.is(c.version, m.kubernetes)
  }
  const files = lock.minors[0]!.components.flatMap((c) => c.files.map((f) => f.name))
  for (const f of ['containerd-shim-runc-v2', 'ctr', 'bridge', 'host-local', 'loopback', 'portmap', 'etcdctl']) t.true(files.includes(f), f)
})

test('unpinned sha256 are null, never invented', (t) => {
  for (const m of lock.minors) for (const c of m.components) for (const a of ARCHES) {
    const v = c.sha256[a]
    t.true(v === null || /^[0-9a-f]{64}$/.test(v))
  }
})

test('the lock pins what kubespray\'s public checksum table gives for our versions, and only that', (t) => {
  const pinned = lock.minors.flatMap((m) => m.components.flatMap((c) => ARCHES.filter((a) => c.sha256[a] !== null).map((a) => `${m.minor} ${c.name} ${a}`)))
  const want = ['1.35', '1.34'].flatMap((m) => ['kubelet', 'kubectl', 'cni-plugins', 'crictl'].flatMap((c) => ARCHES.map((a) => `${m} ${c} ${a}`)))
  t.deepEqual(pinned.sort(), want.sort())
  t.is(comp('1.35', 'kubectl').sha256.amd64, 'b529430df69a688fd61b64ad2299edb5fd71cb58be2a4779dba624c7d3510efd')
  t.is(comp('1.34', 'kubelet').sha256.arm64, 'c78845473c434ee85a2444eeab87f8b20f524e3ab6854a078f79468f44aad8f5')
  t.is(comp('1.35', 'crictl').sha256.amd64, comp('1.34', 'crictl').sha256.amd64, 'one crictl version in both minors')
})

test('URLs render per arch as upstream names its assets', (t) => {
  const cases: [string, 'amd64' | 'arm64', string, string][] = [
    ['kubelet', 'amd64', 'https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubelet', 'https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubelet.sha256'],
    ['kubectl', 'arm64', 'https://dl.k8s.io/release/v1.35.4/bin/linux/arm64/kubectl', 'https://dl.k8s.io/release/v1.35.4/bin/linux/arm64/kubectl.sha256'],
    ['containerd', 'amd64', 'https://github.com/containerd/containerd/releases/download/v2.2.9/containerd-2.2.9-linux-amd64.tar.gz',
      'https://github.com/containerd/containerd/releases/download/v2.2.9/containerd-2.2.9-linux-amd64.tar.gz.sha256sum'],
    ['runc', 'arm64', 'https://github.com/opencontainers/runc/releases/download/v1.3.7/runc.arm64', 'https://github.com/opencontainers/runc/releases/download/v1.3.7/runc.sha256sum'],
    ['cni-plugins', 'arm64', 'https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-arm64-v1.9.1.tgz',
      'https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-arm64-v1.9.1.tgz.sha256'],
    ['crictl', 'amd64', 'https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.34.0/crictl-v1.34.0-linux-amd64.tar.gz',
      'https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.34.0/crictl-v1.34.0-linux-amd64.tar.gz.sha256'],
    ['etcd', 'arm64', 'https://github.com/etcd-io/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-arm64.tar.gz', 'https://github.com/etcd-io/etcd/releases/download/v3.6.16/SHA256SUMS'],
    ['coredns', 'amd64', 'https://github.com/coredns/coredns/releases/download/v1.14.7/coredns_1.14.7_linux_amd64.tgz',
      'https://github.com/coredns/coredns/releases/download/v1.14.7/coredns_1.14.7_linux_amd64.tgz.sha256'],
  ]
  for (const [name, arch, url, sum] of cases) {
    t.is(assetUrl(comp('1.35', name), arch), url, name)
    t.is(checksumUrl(comp('1.35', name), arch), sum, name)
  }
  t.is(assetUrl(comp('1.34', 'kube-apiserver'), 'arm64'), 'https://dl.k8s.io/release/v1.34.4/bin/linux/arm64/kube-apiserver')
  const etcd = comp('1.35', 'etcd')
  t.is(memberPath(etcd, etcd.files.find((f) => f.name === 'etcdctl')!, 'arm64'), 'etcd-v3.6.16-linux-arm64/etcdctl')
  t.is(mirrorPath(comp('1.35', 'kubelet'), 'arm64'), 'kubelet/v1.35.4/arm64/kubelet')
})

test('templates: unknown placeholders and {url} outside checksums are errors', (t) => {
  t.throws(() => renderTemplate('x/{nope}', { version: 'v1', arch: 'amd64' }), { instanceOf: ArtifactError })
  t.throws(() => renderTemplate('{url}.sha256', { version: 'v1', arch: 'amd64' }), { instanceOf: ArtifactError })
  t.is(renderTemplate('{url}.sha256', { version: 'v1.2.3', arch: 'amd64', url: 'u' }), 'u.sha256')
  t.is(renderTemplate('a-{semver}-{arch}', { version: 'v1.2.3', arch: 'arm64' }), 'a-1.2.3-arm64')
})

test('checksum files: bare hash, sha256sum lines, multi-file SHA256SUMS', (t) => {
  const h = (c: string) => c.repeat(64)
  t.is(parseChecksumFile(`${h('a')}\n`, 'kubelet'), h('a'))
  t.is(parseChecksumFile(`${h('b')}  containerd-2.2.9-linux-amd64.tar.gz\n`, 'containerd-2.2.9-linux-amd64.tar.gz'), h('b'))
  const sums = `${h('c')}  runc.amd64\n${h('d')}  runc.arm64\n${h('e')} *./dir/etcd-v3.6.16-linux-arm64.tar.gz\n`
  t.is(parseChecksumFile(sums, 'runc.arm64'), h('d'))
  t.is(parseChecksumFile(sums, 'etcd-v3.6.16-linux-arm64.tar.gz'), h('e'))
  t.is(parseChecksumFile(sums, 'other'), undefined)
})

test('a bad lock reports every problem at once', (t) => {
  const text = `schema: 1
default: "1.99"
minors:
  "1.35":
    kubernetes: v1.34.1
    components:
      kubelet:
        version: v1.35.4
        build: kubernetes
        url: https://example.invalid/{version}/{os}/kubelet
        checksum: "{url}.sha256"
        files: { kubelet: { nodes: everywhere } }
        sha256: { amd64: ABC, arm64: null }
        colour: blue
`
  const err = t.throws(() => parseLock(text, 'bad.yaml'), { instanceOf: ArtifactError })
  for (const p of ['default: 1.99 is not in minors', 'kubernetes: v1.34.1 is not a 1.35 version', 'unknown placeholder {os}', 'nodes: must be all', 'sha256.amd64', 'colour: unknown key']) {
    t.true(err!.message.includes(p), `${p}\n${err!.message}`)
  }
})

test('minorFor: an unpinned patch or minor is a clear error', (t) => {
  t.throws(() => minorFor(lock, 'v1.35.2'), { instanceOf: ArtifactError, message: /pins v1\.35\.4/ })
  t.throws(() => minorFor(lock, 'v1.20.0'), { instanceOf: ArtifactError, message: /not in the versions lock/ })
})

test('neededComponents: external control planes and disabled CoreDNS need less', (t) => {
  const base = { kubernetes: { version: 'v1.35.4' }, controlPlane: { mode: 'managed' }, addons: { coredns: true } }
  const names = (c: unknown) => neededComponents(c as ClusterConfig, lock).flatMap((n) => n.files.map((f) => f.name))
  const all = names(base)
  t.is(all.length, 18)
  const ext = names({ ...base, controlPlane: { mode: 'external' }, addons: { coredns: false } })
  t.false(ext.includes('kube-apiserver'))
  t.false(ext.includes('etcd'))
  t.false(ext.includes('coredns'))
  t.true(ext.includes('kubelet') && ext.includes('runc') && ext.includes('portmap'))
  // addons.registry: the distribution registry, for a managed control plane only.
  t.false(all.includes('registry'))
  const withRegistry = { ...base, addons: { coredns: true, registry: { enabled: true, port: 5001 } } }
  t.deepEqual(names(withRegistry).filter((n) => !all.includes(n)), ['registry'])
  t.false(names({ ...withRegistry, controlPlane: { mode: 'external' } }).includes('registry'))
  // network.policy: kube-router on every node, for a managed control plane only.
  t.false(all.includes('kube-router'))
  const withPolicy = { ...base, network: { policy: true } }
  t.deepEqual(names(withPolicy).filter((n) => !all.includes(n)), ['kube-router'])
  t.false(names({ ...withPolicy, controlPlane: { mode: 'external' } }).includes('kube-router'))
})
