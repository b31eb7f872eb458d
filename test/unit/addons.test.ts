// Addons as data: the switches (defaults, parsing, bad values with their position), the list (one
// folder + one line: names, steps, checks, where they run), the images each needs only while it is
// on, the storage and metrics-server manifests (labels, hash, default class, verified kubelet TLS),
// what `kubelab addons` makes of the cluster's objects, and `kubectl top` parsing.
import test from 'ava'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { addonsTable } from '../../scripts/commands/addons.ts'
import { ADDONS } from '../../scripts/lib/addons/index.ts'
import { ADDON_KINDS, ADDON_LABEL, addonManifest, MANIFEST_ANNOTATION } from '../../scripts/lib/addons/manifest.ts'
import { corednsObjects } from '../../scripts/lib/addons/coredns/manifest.ts'
import { metricsServerArgs, metricsServerObjects } from '../../scripts/lib/addons/metrics-server/manifest.ts'
import { parseTopNodes } from '../../scripts/lib/addons/metrics-server/smoke.ts'
import { statesFrom } from '../../scripts/lib/addons/state.ts'
import { ingressObjects } from '../../scripts/lib/addons/ingress/manifest.ts'
import { helperPod, STORAGE_CLASS, storageObjects } from '../../scripts/lib/addons/storage/manifest.ts'
import { loadLock, DEFAULT_LOCK_FILE } from '../../scripts/lib/artifacts/lock.ts'
import { neededComponents } from '../../scripts/lib/artifacts/resolve.ts'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { addonEnabled } from '../../scripts/lib/config/types.ts'
import { ConfigError } from '../../scripts/lib/errors.ts'
import { CHECKS } from '../../scripts/lib/smoke/checks/index.ts'
import { STEPS } from '../../scripts/lib/steps/index.ts'
import { FIXTURES } from '../helpers/paths.ts'

const file = path.join(FIXTURES, 'config', 'cluster.config.yaml')
const nodes = 'nodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n'
const parse = (extra = '') => parseConfig(`provider: {type: nspawn}\n${extra}${nodes}`, { file, env: {} }).config

test('switches: coredns, storage, metricsServer, loadBalancer and ingress on by default, the registry off; each can be turned', (t) => {
  const c = parse()
  t.deepEqual(ADDONS.map((a) => [a.name, addonEnabled(c, a.name)]), [['registry', false], ['coredns', true], ['storage', true], ['metricsServer', true], ['loadBalancer', true], ['ingress', true]])
  const off = parse('addons: {storage: false, metricsServer: false}\n')
  t.false(off.addons.storage)
  t.false(off.addons.metricsServer)
  t.true(off.addons.coredns)
})

test('a switch that is not a boolean, and an unknown addon, are problems with their position', (t) => {
  const err = t.throws(() => parseConfig(`provider: {type: nspawn}\naddons:\n  storage: "yes"\n  traefik: true\n${nodes}`, { file, env: {} }), { instanceOf: ConfigError }) as ConfigError
  t.is(err.issues.length, 2)
  const text = JSON.stringify(err.issues)
  t.regex(text, /addons\.storage|"storage"/)
  t.regex(text, /traefik/)
})

test('the list: one record per addon, its steps addons:<name> after the nodes are Ready and hold the images, its checks in the suite', (t) => {
  t.is(new Set(ADDONS.map((a) => a.name)).size, ADDONS.length)
  for (const a of ADDONS) {
    t.true(a.name in parse().addons, `${a.name} is a key of addons:`)
    for (const s of a.steps) {
      t.is(s.id, `addons:${a.name}`)
      t.true(STEPS.includes(s), `${s.id} in steps/index.ts`)
    }
    for (const c of a.checks) t.true(CHECKS.includes(c), `${c.id} in the suite`)
  }
  for (const id of ['addons:coredns', 'addons:storage', 'addons:metricsServer', 'addons:loadBalancer', 'addons:ingress']) t.deepEqual(STEPS.find((s) => s.id === id)?.waitsFor, ['nodes:ready', 'images:imported'], id)
  // Ready does not wait for kubelab's own images; the addons do.
  t.false(STEPS.find((s) => s.id === 'node:ready')!.after!.includes('runtime:workload-images'))
  t.is(STEPS.find((s) => s.id === 'runtime:workload-images')!.establishes, 'images:imported')
  // On or off the manifest addons' steps run (off: they remove what is left), with a managed control plane only.
  const storageStep = STEPS.find((s) => s.id === 'addons:storage')!
  t.true(storageStep.when!(parse('addons: {storage: false}\n')))
})

test('images: each addon\'s binary is resolved only while the addon is on', (t) => {
  const lock = loadLock(DEFAULT_LOCK_FILE)
  const images = (extra: string) => neededComponents(parse(extra), lock).flatMap((n) => n.files.filter((f) => f.nodes === 'image').map((f) => f.name))
  t.deepEqual(images(''), ['coredns', 'local-path-provisioner', 'metrics-server', 'controller', 'speaker', 'traefik'])
  t.deepEqual(images('addons: {storage: false, loadBalancer: {enabled: false}}\n'), ['coredns', 'metrics-server'])
  t.deepEqual(images('addons: {metricsServer: false, coredns: false, ingress: false}\n'), ['local-path-provisioner', 'controller', 'speaker'])
})

const TLS = { cert: 'CERT PEM', key: 'KEY PEM', ca: 'CA PEM' }
const storage = storageObjects({ image: 'kubelab.local/local-path-provisioner:v0.0.30', helperImage: 'kubelab.local/testbox:abc', dir: '/var/lib/kubelab-local-path' })

test('storage manifest: upstream\'s objects, the one default class local-path, WaitForFirstConsumer, helper pods on the testbox', (t) => {
  t.deepEqual(storage.map((d) => `${d.kind}/${d.metadata.name}`), [
    'Namespace/local-path-storage', 'ServiceAccount/local-path-provisioner-service-account', 'Role/local-path-provisioner-role',
    'ClusterRole/local-path-provisioner-role', 'RoleBinding/local-path-provisioner-bind', 'ClusterRoleBinding/local-path-provisioner-bind',
    'ConfigMap/local-path-config', 'Deployment/local-path-provisioner', 'StorageClass/local-path',
  ])
  const sc = storage.find((d) => d.kind === 'StorageClass') as unknown as { metadata: { name: string; annotations: Record<string, string> }; provisioner: string; volumeBindingMode: string; reclaimPolicy: string }
  t.is(sc.metadata.name, STORAGE_CLASS)
  t.is(sc.metadata.annotations['storageclass.kubernetes.io/is-default-class'], 'true')
  t.is(sc.volumeBindingMode, 'WaitForFirstConsumer')
  t.is(sc.provisioner, 'rancher.io/local-path')
  const cm = storage.find((d) => d.kind === 'ConfigMap') as unknown as { data: Record<string, string> }
  t.deepEqual(JSON.parse(cm.data['config.json']!), { nodePathMap: [{ node: 'DEFAULT_PATH_FOR_NON_LISTED_NODES', paths: ['/var/lib/kubelab-local-path'] }] })
  t.regex(cm.data.setup!, /mkdir -m 0777 -p "\$VOL_DIR"/)
  t.regex(cm.data.teardown!, /rm -rf "\$VOL_DIR"/)
  const helper = parseAllDocuments(cm.data['helperPod.yaml']!)[0]!.toJS() as { spec: { containers: { image: string; imagePullPolicy: string }[] } }
  t.like(helper.spec.containers[0], { image: 'kubelab.local/testbox:abc', imagePullPolicy: 'IfNotPresent' })
  t.is(cm.data['helperPod.yaml'], helperPod('kubelab.local/testbox:abc'))
  const dep = storage.find((d) => d.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { image: string; command: string[] }[] } } } }
  t.is(dep.spec.template.spec.containers[0]!.image, 'kubelab.local/local-path-provisioner:v0.0.30')
  t.deepEqual(dep.spec.template.spec.containers[0]!.command.slice(0, 3), ['/local-path-provisioner', '--debug', 'start'])
})

test('metrics-server manifest: kubelet TLS verified against the cluster CA, never insecure; RBAC and the APIService', (t) => {
  const args = metricsServerArgs()
  t.true(args.includes('--kubelet-certificate-authority=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt'))
  t.true(args.includes('--kubelet-preferred-address-types=InternalIP'))
  t.false(args.some((a) => a.includes('insecure')))
  const docs = metricsServerObjects({ image: 'kubelab.local/metrics-server:v0.8.0', tls: TLS })
  t.deepEqual(docs.map((d) => d.kind), ['Secret', 'ServiceAccount', 'ClusterRole', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'ClusterRoleBinding', 'Service', 'Deployment', 'APIService'])
  const api = docs.at(-1) as unknown as { metadata: { name: string }; spec: { group: string; version: string; caBundle: string; insecureSkipTLSVerify?: boolean; service: { name: string; namespace: string } } }
  t.is(api.metadata.name, 'v1beta1.metrics.k8s.io')
  t.deepEqual(api.spec.service, { name: 'metrics-server', namespace: 'kube-system' })
  // The aggregation layer verifies metrics-server's certificate (kubelab's PKI) against the cluster CA.
  t.is(Buffer.from(api.spec.caBundle, 'base64').toString(), TLS.ca)
  t.is(api.spec.insecureSkipTLSVerify, undefined)
  const secret = docs[0] as unknown as { type: string; data: Record<string, string> }
  t.is(secret.type, 'kubernetes.io/tls')
  t.is(Buffer.from(secret.data['tls.crt']!, 'base64').toString(), TLS.cert)
  t.true(args.includes('--tls-cert-file=/etc/metrics-server/tls/tls.crt'))
  const reader = docs[3] as unknown as { rules: { resources: string[]; verbs: string[] }[] }
  t.true(reader.rules.some((r) => r.resources.includes('nodes/metrics') && r.verbs.includes('get')))
})

test('every addon manifest: each object labelled with its addon and hash-annotated, of a kind removal knows', (t) => {
  const sets = [
    ['storage', storage],
    ['metricsServer', metricsServerObjects({ image: 'i', tls: TLS })],
    ['coredns', corednsObjects({ image: 'i', dnsServiceIP: '10.96.0.10', clusterDomain: 'cluster.local', replicas: 1, upstream: { via: 'none', why: 'off' } })],
  ] as const
  for (const [name, docs] of sets) {
    const m = addonManifest(name, docs)
    const parsed = parseAllDocuments(m.yaml).map((d) => d.toJS() as { kind: string; metadata: { labels: Record<string, string>; annotations: Record<string, string> } })
    t.is(parsed.length, docs.length)
    for (const d of parsed) {
      t.is(d.metadata.labels[ADDON_LABEL], name, `${name} ${d.kind}`)
      t.is(d.metadata.annotations[MANIFEST_ANNOTATION], m.sha256)
      t.true((ADDON_KINDS as readonly string[]).includes(d.kind.toLowerCase()), `${d.kind} in ADDON_KINDS`)
    }
    t.is(addonManifest(name, docs).sha256, m.sha256, 'stable')
    t.not(addonManifest(`${name}x`, docs).sha256, m.sha256, 'the label is part of the hash')
  }
})

test('kubelab addons: applied when objects exist, ready when every Deployment and APIService is Available', (t) => {
  const obj = (kind: string, name: string, addon: string, available?: boolean) => ({
    kind, metadata: { name, labels: { [ADDON_LABEL]: addon } },
    ...(available === undefined ? {} : { status: { conditions: [{ type: 'Available', status: available ? 'True' : 'False' }] } }),
  })
  const s = statesFrom(ADDONS, [
    obj('ConfigMap', 'coredns', 'coredns'), obj('Deployment', 'coredns', 'coredns', true),
    obj('Deployment', 'metrics-server', 'metricsServer', true), obj('APIService', 'v1beta1.metrics.k8s.io', 'metricsServer', false),
  ])
  t.like(s.get('coredns'), { applied: true, ready: true })
  t.like(s.get('metricsServer'), { applied: true, ready: false })
  t.regex(s.get('metricsServer')!.detail, /apiservice\/v1beta1\.metrics\.k8s\.io/)
  t.like(s.get('storage'), { applied: false, ready: false, detail: 'no objects in the cluster' })
})

test('kubectl top nodes: rows with numbers only', (t) => {
  const rows = parseTopNodes('control-plane   151m   7%    712Mi   4%\nworker-1   <unknown>   <unknown>   <unknown>   <unknown>\nworker-2 23m 1% 201Mi 1%\n')
  t.deepEqual([...rows], [['control-plane', ['151m', '712Mi']], ['worker-2', ['23m', '201Mi']]])
})

test('kubelab addons table: a row per addon, ? where the cluster could not be read', (t) => {
  t.is(addonsTable([
    { name: 'coredns', enabled: true, applied: true, ready: true, detail: '6 objects' },
    { name: 'metricsServer', enabled: false, applied: null, ready: null, detail: 'cluster not reachable: x' },
  ]), [
    'NAME           ENABLED  APPLIED  READY  DETAIL',
    'coredns        yes      yes      yes    6 objects',
    'metricsServer  no       ?        ?      cluster not reachable: x',
  ].join('\n'))
})

test('ingress manifest: the default IngressClass for Traefik\'s controller, a LoadBalancer Service on 80/443, Ingress status from it', (t) => {
  const docs = ingressObjects('kubelab.local/traefik:v3.6.12')
  t.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), [
    'Namespace/traefik', 'ServiceAccount/traefik', 'ClusterRole/kubelab-traefik', 'ClusterRoleBinding/kubelab-traefik',
    'IngressClass/traefik', 'Deployment/traefik', 'Service/traefik',
  ])
  const ic = docs.find((d) => d.kind === 'IngressClass') as unknown as { metadata: { annotations: Record<string, string> }; spec: { controller: string } }
  t.is(ic.metadata.annotations['ingressclass.kubernetes.io/is-default-class'], 'true')
  t.is(ic.spec.controller, 'traefik.io/ingress-controller')
  const svc = docs.find((d) => d.kind === 'Service') as unknown as { spec: { type: string; ports: { port: number; targetPort: string }[] } }
  t.is(svc.spec.type, 'LoadBalancer')
  t.deepEqual(svc.spec.ports.map((p) => [p.port, p.targetPort]), [[80, 'web'], [443, 'websecure']])
  const c = (docs.find((d) => d.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { image: string; args: string[] }[]; securityContext: { runAsNonRoot: boolean } } } } }).spec.template.spec
  t.is(c.containers[0]!.image, 'kubelab.local/traefik:v3.6.12')
  t.true(c.securityContext.runAsNonRoot)
  t.true(c.containers[0]!.args.includes('--providers.kubernetesingress.ingressendpoint.publishedservice=traefik/traefik'))
  t.true(c.containers[0]!.args.includes('--global.sendanonymoususage=false'))
})

test('ingress follows the load balancer by default; on without it is a problem at its line', (t) => {
  t.false(parse('addons: {loadBalancer: {enabled: false}}\n').addons.ingress)
  t.true(parse('addons: {ingress: true}\n').addons.ingress)
  t.false(parse('addons: {ingress: false}\n').addons.ingress)
  const err = t.throws(() => parseConfig(`provider: {type: nspawn}\naddons:\n  loadBalancer: {enabled: false}\n  ingress: true\n${nodes}`, { file, env: {} }), { instanceOf: ConfigError }) as ConfigError
  t.regex(JSON.stringify(err.issues), /addons\.ingress.*needs addons\.loadBalancer on/)
  t.is(err.issues[0]!.location?.line, 4)
})
