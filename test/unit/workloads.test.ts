// The workload images and the CoreDNS addon as data: the testbox image's layer (busybox, every
// applet a symlink to it, probe, entrypoint and env) and the CoreDNS image read back from the OCI
// tar; GNU tar agrees about the symlinks; the CoreDNS manifest (objects, RBAC, Service IP, local
// image, a Corefile with no upstream forward) and its hash (stable, changes with the inputs); how
// the addon's wait describes a pod that is not ready.
import test from 'ava'
import { readTarEntries, tempDir } from '../helpers/files.ts'
import { execFileSync } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { parseAllDocuments } from 'yaml'
import { corednsManifest, corefile, MANIFEST_ANNOTATION } from '../../scripts/lib/addons/coredns/manifest.ts'
import { writeOciImage } from '../../scripts/lib/artifacts/oci.ts'
import { describePod, rolloutPending } from '../../scripts/lib/addons/step.ts'
import {
  COREDNS_IMAGE, corednsSpec, TESTBOX_APPLETS, TESTBOX_IMAGE, testboxSpec,
} from '../../scripts/lib/images/workloads.ts'

/** The image's layer entries and its config, read back from the OCI layout tar. */
async function imageOf(tar: string) {
  const outer = await readTarEntries(createReadStream(tar))
  const blob = (d: string) => outer.get(`blobs/sha256/${d.replace('sha256:', '')}`)!.body
  const index = JSON.parse(outer.get('index.json')!.body.toString()) as { manifests: { digest: string; annotations: Record<string, string> }[] }
  const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { config: { digest: string }; layers: { digest: string }[] }
  const config = JSON.parse(blob(manifest.config.digest).toString()) as { config: { Entrypoint: string[]; Env: string[] } }
  const layer = await readTarEntries(Readable.from([blob(manifest.layers[0]!.digest)]))
  return { name: index.manifests[0]!.annotations['io.containerd.image.name'], config: config.config, layer, layerBlob: blob(manifest.layers[0]!.digest) }
}

const hasTar = (() => { try { execFileSync('tar', ['--version']); return true } catch { return false } })()

test('image refs: testbox tagged by its recipe hash, coredns by the lock version', (t) => {
  t.regex(TESTBOX_IMAGE, /^kubelab\.local\/testbox:[0-9a-f]{12}$/)
  t.is(COREDNS_IMAGE, 'kubelab.local/coredns:v1.14.7')
})

test('testbox image: /bin/busybox, every applet a symlink to it, /bin/probe; entrypoint probe serve', async (t) => {
  const dir = await tempDir(t, 'kubelab-workloads-test-')
  const busybox = path.join(dir, 'busybox')
  const probe = path.join(dir, 'probe')
  await writeFile(busybox, 'BUSYBOX')
  await writeFile(probe, 'PROBE')
  const tar = path.join(dir, 'testbox.tar')
  await writeOciImage(testboxSpec(TESTBOX_IMAGE, busybox, probe), tar)
  const img = await imageOf(tar)
  t.is(img.name, TESTBOX_IMAGE)
  t.deepEqual(img.config.Entrypoint, ['/bin/probe', 'serve'])
  t.true(img.config.Env.includes('PATH=/bin'))
  t.is(img.layer.get('bin/busybox')!.body.toString(), 'BUSYBOX')
  t.is(img.layer.get('bin/busybox')!.h.mode & 0o777, 0o755)
  t.is(img.layer.get('bin/probe')!.body.toString(), 'PROBE')
  t.is(img.layer.get('bin/')!.h.type, 'dir')
  for (const a of ['sh', 'ls', 'cat', 'echo', 'sleep', 'wget', 'nslookup', 'dd', 'head', 'tail', 'hostname', 'env', 'ip', 'ps', 'kill', 'mkdir', 'grep']) {
    t.true(TESTBOX_APPLETS.includes(a), a)
  }
  for (const a of TESTBOX_APPLETS) {
    const e = img.layer.get(`bin/${a}`)
    t.is(e?.h.type, 'symlink', a)
    t.is(e?.h.linkname, 'busybox', a)
    t.is(e?.h.size, 0, a)
  }
  t.is(img.layer.size, 1 + 2 + TESTBOX_APPLETS.length)
  if (!hasTar) return t.log('no tar on PATH: GNU tar cross-check skipped')
  // GNU tar reads the same symlinks out of the layer.
  const listing = execFileSync('tar', ['-tvf', '-'], { input: img.layerBlob }).toString()
  t.regex(listing, /^lrwxrwxrwx root\/root +0 1970-01-01 00:00 bin\/sh -> busybox$/m)
  t.regex(listing, /^-rwxr-xr-x root\/root +5 1970-01-01 00:00 bin\/probe$/m)
})

test('coredns image: /coredns, entrypoint /coredns', async (t) => {
  const dir = await tempDir(t, 'kubelab-workloads-test-')
  const bin = path.join(dir, 'coredns')
  await writeFile(bin, 'COREDNS')
  const tar = path.join(dir, 'coredns.tar')
  await writeOciImage(corednsSpec(COREDNS_IMAGE, bin), tar)
  const img = await imageOf(tar)
  t.is(img.name, COREDNS_IMAGE)
  t.deepEqual(img.config.Entrypoint, ['/coredns'])
  t.deepEqual([...img.layer.keys()], ['coredns'])
  t.is(img.layer.get('coredns')!.body.toString(), 'COREDNS')
})

const OFF = { via: 'none', why: 'egress is off' } as const
const params = { image: 'kubelab.local/coredns:v1.14.7', dnsServiceIP: '10.96.0.10', clusterDomain: 'cluster.local', replicas: 2, upstream: OFF }

interface K8sObject {
  kind: string
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> }
  [k: string]: unknown
}

test('coredns manifest: the objects, each annotated with the manifest hash', (t) => {
  const m = corednsManifest(params)
  const docs = parseAllDocuments(m.yaml).map((d) => d.toJS() as K8sObject)
  t.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), [
    'ServiceAccount/coredns', 'ClusterRole/system:coredns', 'ClusterRoleBinding/system:coredns',
    'ConfigMap/coredns', 'Deployment/coredns', 'Service/kube-dns',
  ])
  t.deepEqual(m.objects, ['serviceaccount/coredns', 'clusterrole/system:coredns', 'clusterrolebinding/system:coredns', 'configmap/coredns', 'deployment/coredns', 'service/kube-dns'])
  t.regex(m.sha256, /^[0-9a-f]{64}$/)
  for (const d of docs) {
    t.is(d.metadata.annotations?.[MANIFEST_ANNOTATION], m.sha256, d.kind)
    if (!d.kind.startsWith('Cluster')) t.is(d.metadata.namespace, 'kube-system', d.kind)
  }
  const role = docs[1] as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }
  const can = (group: string, resource: string) => role.rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && ['list', 'watch'].every((v) => r.verbs.includes(v)))
  for (const [g, r] of [['discovery.k8s.io', 'endpointslices'], ['', 'services'], ['', 'pods'], ['', 'namespaces']] as const) t.true(can(g, r), `${g}/${r}`)
  t.false(role.rules.some((r) => r.verbs.some((v) => !['list', 'watch'].includes(v))), 'read-only')

  const svc = docs[5] as unknown as { spec: { clusterIP: string; selector: Record<string, string>; ports: { port: number; protocol: string }[] } }
  t.is(svc.spec.clusterIP, '10.96.0.10')
  t.deepEqual(svc.spec.ports.map((p) => `${p.port}/${p.protocol}`), ['53/UDP', '53/TCP', '9153/TCP'])
  const dep = docs[4] as unknown as { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string; imagePullPolicy: string; args: string[] }[]; tolerations: { key: string }[] } } } }
  t.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels)
  t.deepEqual(dep.spec.template.metadata.labels, dep.spec.selector.matchLabels)
  t.is(dep.spec.replicas, 2)
  const c = dep.spec.template.spec.containers[0]!
  t.is(c.image, 'kubelab.local/coredns:v1.14.7')
  t.is(c.imagePullPolicy, 'IfNotPresent')
  t.deepEqual(c.args, ['-conf', '/etc/coredns/Corefile'])
  t.true(dep.spec.template.spec.tolerations.some((x) => x.key === 'node-role.kubernetes.io/control-plane'))
  const cm = docs[3] as unknown as { data: { Corefile: string } }
  t.is(cm.data.Corefile, corefile('cluster.local', OFF))
})

test('Corefile without upstream (egress off): authoritative for the cluster domain, no forward, other names NXDOMAIN', (t) => {
  const f = corefile('lab.example', OFF)
  t.regex(f, /^lab\.example:53 in-addr\.arpa:53 ip6\.arpa:53 \{$/m)
  t.regex(f, /^ {4}kubernetes lab\.example in-addr\.arpa ip6\.arpa \{$/m)
  t.notRegex(f, /\bforward\b|\bloop\b|resolv\.conf/)
  t.regex(f, /^\.:53 \{\n(?:.*\n)*? {4}template ANY ANY \{\n {8}rcode NXDOMAIN\n/m)
  // Balanced braces.
  t.is((f.match(/\{/g) ?? []).length, (f.match(/\}/g) ?? []).length)
})

test('Corefile with upstream: other names forwarded to the resolvers, or the node\'s resolv.conf with loop', (t) => {
  const servers = corefile('cluster.local', { via: 'servers', servers: ['198.51.100.53', '198.51.100.54'], from: 'KUBELAB_DNS' })
  t.regex(servers, /^\.:53 \{\n(?:.*\n)*? {4}forward \. 198\.51\.100\.53 198\.51\.100\.54 \{$/m)
  t.notRegex(servers, /rcode NXDOMAIN|\bloop\b/)
  const node = corefile('cluster.local', { via: 'node' })
  t.regex(node, /^ {4}forward \. \/etc\/resolv\.conf \{$/m)
  t.regex(node, /^ {4}loop$/m)
  for (const f of [servers, node]) {
    t.regex(f, /^ {4}kubernetes cluster\.local in-addr\.arpa ip6\.arpa \{$/m)
    t.is((f.match(/\{/g) ?? []).length, (f.match(/\}/g) ?? []).length)
  }
  t.not(corednsManifest({ ...params, upstream: { via: 'node' } }).sha256, corednsManifest(params).sha256)
})

test('coredns manifest hash: stable for the same inputs, changes with any of them', (t) => {
  const base = corednsManifest(params)
  t.is(corednsManifest({ ...params }).sha256, base.sha256)
  t.is(corednsManifest({ ...params }).yaml, base.yaml)
  for (const changed of [{ image: 'kubelab.local/coredns:v1.14.8' }, { dnsServiceIP: '10.96.0.11' }, { clusterDomain: 'lab.local' }, { replicas: 1 }]) {
    t.not(corednsManifest({ ...params, ...changed }).sha256, base.sha256, JSON.stringify(changed))
  }
})

test('addons:coredns timeout reason: a pod says why it is not ready', (t) => {
  const pod = (status: object, nodeName?: string) => ({ metadata: { name: 'coredns-x' }, spec: nodeName ? { nodeName } : {}, status })
  t.is(describePod(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', message: '0/3 nodes are available: 3 node(s) didn\'t match Pod\'s node affinity/selector.' }] })),
    'coredns-x Pending (unschedulable: 0/3 nodes are available: 3 node(s) didn\'t match Pod\'s node affinity/selector.)')
  t.is(describePod(pod({ phase: 'Pending', containerStatuses: [{ ready: false, state: { waiting: { reason: 'ErrImageNeverPull', message: 'image not present' } } }] }, 'worker-1')),
    'coredns-x Pending on worker-1 (waiting: ErrImageNeverPull image not present)')
  t.is(describePod(pod({ phase: 'Running', containerStatuses: [{ ready: false, state: {} }] }, 'worker-2')), 'coredns-x Running on worker-2 (not ready (readiness probe))')
  t.is(describePod(pod({ phase: 'Running', containerStatuses: [{ ready: true, state: {} }] }, 'worker-2')), 'coredns-x Running on worker-2')
})

test('addons:coredns waits for the rollout: old pods still answering with the old Corefile are not done', (t) => {
  const d = (status: Record<string, number>, generation = 2) => ({ kind: 'Deployment', metadata: { name: 'coredns', generation }, spec: { replicas: 2 }, status: { observedGeneration: 2, ...status } })
  t.is(rolloutPending(d({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 })), undefined)
  t.regex(rolloutPending(d({ replicas: 3, updatedReplicas: 2, availableReplicas: 2 }))!, /1 old pod\(s\) still running/)
  t.regex(rolloutPending(d({ replicas: 2, updatedReplicas: 1, availableReplicas: 2 }))!, /1 of 2 pods at the new template/)
  t.regex(rolloutPending(d({ replicas: 2, updatedReplicas: 2, availableReplicas: 1 }))!, /1 of 2 pods available/)
  t.regex(rolloutPending(d({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 }, 3))!, /not seen the new template/)
})
