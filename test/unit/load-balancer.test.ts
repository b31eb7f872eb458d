// addons.loadBalancer as logic: the pool (ranges, the default upper eighth, where it may not lie,
// who needs to name it), upstream's manifest made kubelab's (images replaced, nothing else
// touched), the pool objects, a DaemonSet's readiness, the build-only lock components, and what
// the service forwarder forwards.
import test from 'ava'
import path from 'node:path'
import { stringify } from 'yaml'
import { poolObjects, upstreamObjects } from '../../scripts/lib/addons/load-balancer/manifest.ts'
import { daemonSetPending } from '../../scripts/lib/addons/step.ts'
import { assetUrl, DEFAULT_LOCK_FILE, loadLock, minorFor, mirrorPath, parseLock } from '../../scripts/lib/artifacts/lock.ts'
import * as cidr from '../../scripts/lib/config/cidr.ts'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { ArtifactError, ConfigError } from '../../scripts/lib/errors.ts'
import { DEFAULT_KUBERNETES_VERSION } from '../../scripts/lib/versions.ts'
// @ts-expect-error: plain JavaScript (runs without a build step), no declarations
import { desiredForwards, parsePool } from '../../scripts/lib/services/forwarder.mjs'
import { FIXTURES } from '../helpers/paths.ts'

const file = path.join(FIXTURES, 'config', 'cluster.config.yaml')
const nodes = 'nodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n'
const parse = (text: string) => parseConfig(text.includes('nodes:') ? text : `${text}${nodes}`, { file, env: {} }).config
const problems = (text: string) => (t: { throws: (fn: () => unknown, o: object) => unknown }) =>
  JSON.stringify((t.throws(() => parseConfig(`${text}${nodes}`, { file, env: {} }), { instanceOf: ConfigError }) as ConfigError).issues)

test('ranges: A-B and CIDRs; bad ones say what is wrong', (t) => {
  const r = (text: string) => { const p = cidr.parseRange(text); return p.ok ? cidr.formatRange(p.range) : p.reason }
  t.is(r('10.0.0.224-10.0.0.254'), '10.0.0.224-10.0.0.254')
  t.is(r('10.0.0.224/27'), '10.0.0.224-10.0.0.255')
  t.regex(r('10.0.0.254-10.0.0.224'), /ends \(10\.0\.0\.224\) before it starts/)
  t.regex(r('10.0.0.1'), /must be an IPv4 range/)
  t.regex(r('10.0.0.1-10.0.0.2-10.0.0.3'), /must be an IPv4 range/)
  t.is(cidr.formatRange(cidr.upperEighth({ base: cidr.parseIPv4('10.77.0.0')!, prefix: 24 })), '10.77.0.224-10.77.0.254')
  t.is(cidr.formatRange(cidr.upperEighth({ base: cidr.parseIPv4('10.77.0.0')!, prefix: 28 })), '10.77.0.14-10.77.0.14')
})

test('config: on by default for nspawn with the upper eighth of the lab network; off for ssh; off when turned off', (t) => {
  t.deepEqual(parse('provider: {type: nspawn, network: 10.91.0.0/24}\n').addons.loadBalancer, { enabled: true, addresses: '10.91.0.224-10.91.0.254' })
  t.deepEqual(parse('provider: {type: nspawn}\naddons: {loadBalancer: {addresses: 10.77.0.200/29}}\n').addons.loadBalancer, { enabled: true, addresses: '10.77.0.200-10.77.0.207' })
  t.false(parse('provider: {type: nspawn}\naddons: {loadBalancer: {enabled: false}}\n').addons.loadBalancer.enabled)
  const ssh = 'provider: {type: ssh}\nnodes:\n  - {name: cp, role: control-plane, address: 192.0.2.10}\n  - {name: w1, role: worker, address: 192.0.2.11}\n'
  t.deepEqual(parseConfig(ssh, { file, env: {} }).config.addons.loadBalancer, { enabled: false })
})

test('config: the pool must be a range, inside the lab network, clear of the nodes; ssh must name it', (t) => {
  t.regex(problems('provider: {type: nspawn}\naddons: {loadBalancer: {addresses: "10.77.0.9"}}\n')(t), /addons\.loadBalancer\.addresses.*must be an IPv4 range/)
  t.regex(problems('provider: {type: nspawn, network: 10.77.0.0/24}\naddons: {loadBalancer: {addresses: 10.78.0.1-10.78.0.9}}\n')(t), /must lie inside provider\.network 10\.77\.0\.0\/24/)
  t.regex(problems('provider: {type: nspawn, network: 10.77.0.0/24}\naddons: {loadBalancer: {addresses: 10.77.0.10-10.77.0.20}}\n')(t), /holds the address of nodes\[0\]/)
  const ssh = 'provider: {type: ssh}\naddons: {loadBalancer: {enabled: true}}\nnodes:\n  - {name: cp, role: control-plane, address: 192.0.2.10}\n  - {name: w1, role: worker, address: 192.0.2.11}\n'
  const err = t.throws(() => parseConfig(ssh, { file, env: {} }), { instanceOf: ConfigError }) as ConfigError
  t.regex(JSON.stringify(err.issues), /needs addons\.loadBalancer\.addresses with provider\.type \\"ssh\\"/)
})

const UPSTREAM = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'metallb-system' } },
  { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'ipaddresspools.metallb.io' }, spec: { group: 'metallb.io' } },
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'controller', namespace: 'metallb-system' }, spec: { template: { spec: { containers: [{ name: 'controller', image: 'quay.io/metallb/controller:v0.15.2', args: ['--port=7472'] }] } } } },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'speaker', namespace: 'metallb-system' }, spec: { template: { spec: { hostNetwork: true, containers: [{ name: 'speaker', image: 'quay.io/metallb/speaker:v0.15.2' }] } } } },
]
const IMAGES = { controller: 'kubelab.local/metallb-controller:v0.15.2', speaker: 'kubelab.local/metallb-speaker:v0.15.2' }

test('upstream manifest: every object kept as upstream wrote it, only the two images replaced (never pulled)', (t) => {
  const text = `---\n${UPSTREAM.map((d) => stringify(d)).join('---\n')}`
  const docs = upstreamObjects(text, 'metallb-native.yaml', IMAGES)
  t.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), ['Namespace/metallb-system', 'CustomResourceDefinition/ipaddresspools.metallb.io', 'Deployment/controller', 'DaemonSet/speaker'])
  const containers = docs.slice(2).map((d) => (d as unknown as { spec: { template: { spec: { containers: object[] } } } }).spec.template.spec.containers[0])
  t.deepEqual(containers, [
    { name: 'controller', image: IMAGES.controller, imagePullPolicy: 'IfNotPresent', args: ['--port=7472'] },
    { name: 'speaker', image: IMAGES.speaker, imagePullPolicy: 'IfNotPresent' },
  ])
  t.deepEqual(docs[1], UPSTREAM[1])
  t.throws(() => upstreamObjects(stringify(UPSTREAM[0]), 'x.yaml', IMAGES), { message: /x\.yaml: no controller container/ })
  const odd = { ...UPSTREAM[2], spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'a' }] } } } }
  t.throws(() => upstreamObjects(stringify(odd), 'x.yaml', IMAGES), { message: /container "sidecar" kubelab has no image for/ })
})

test('the pool: one IPAddressPool and the L2Advertisement that announces it', (t) => {
  t.deepEqual(poolObjects('10.77.0.224-10.77.0.254').map((d) => [d.kind, d.metadata.name, d.spec]), [
    ['IPAddressPool', 'kubelab', { addresses: ['10.77.0.224-10.77.0.254'] }],
    ['L2Advertisement', 'kubelab', { ipAddressPools: ['kubelab'] }],
  ])
})

test('a DaemonSet is ready when every scheduled pod is current and ready', (t) => {
  const ds = (status: object, generation = 1) => ({ kind: 'DaemonSet', metadata: { name: 'speaker', generation }, status: { observedGeneration: 1, ...status } })
  t.is(daemonSetPending(ds({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 3 })), undefined)
  t.is(daemonSetPending(ds({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 2 })), '2 of 3 pods ready')
  t.regex(daemonSetPending(ds({ desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberReady: 3 }))!, /1 of 3 pods at the new template/)
  t.regex(daemonSetPending(ds({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 3 }, 2))!, /not seen the new template/)
  t.is(daemonSetPending(ds({ desiredNumberScheduled: 0 })), 'no node to run on yet')
})

test('lock: MetalLB is build-only (no url): no download, a mirror path by file name; a half-given url is a problem', (t) => {
  const c = minorFor(loadLock(DEFAULT_LOCK_FILE), DEFAULT_KUBERNETES_VERSION).components.find((x) => x.name === 'metallb-speaker')!
  t.is(c.url, undefined)
  t.throws(() => assetUrl(c, 'amd64'), { instanceOf: ArtifactError, message: /publishes no binary to download/ })
  t.is(mirrorPath(c, 'amd64'), 'metallb-speaker/v0.15.2/amd64/speaker')
  const half = 'schema: 1\ndefault: "1.35"\nminors:\n  "1.35":\n    kubernetes: v1.35.4\n    components:\n      x:\n        version: v1\n        build: x\n        url: https://example.com/x\n        files: {x: {}}\n        sha256: {amd64: null, arm64: null}\n'
  t.throws(() => parseLock(half, 'lock.yaml'), { message: /checksum/ })
})

test('forwarder: each TCP port of every LoadBalancer Service with a pool address, nothing else', (t) => {
  const pool = parsePool('10.77.0.224-10.77.0.254')
  const svc = (name: string, type: string, ip: string | undefined, ports: object[]) => ({
    metadata: { namespace: 'default', name }, spec: { type, ports }, status: { loadBalancer: ip ? { ingress: [{ ip }] } : {} },
  })
  t.deepEqual(desiredForwards([
    svc('web', 'LoadBalancer', '10.77.0.224', [{ port: 8080 }, { port: 53, protocol: 'UDP' }, { port: 443, protocol: 'TCP' }]),
    svc('pending', 'LoadBalancer', undefined, [{ port: 80 }]),
    svc('elsewhere', 'LoadBalancer', '192.0.2.1', [{ port: 80 }]),
    svc('plain', 'ClusterIP', undefined, [{ port: 80 }]),
  ], pool), [
    { key: 'default/web:443', namespace: 'default', name: 'web', port: 443, address: '10.77.0.224' },
    { key: 'default/web:8080', namespace: 'default', name: 'web', port: 8080, address: '10.77.0.224' },
  ])
  t.throws(() => parsePool('10.0.0.9-10.0.0.1'), { message: /not an address range/ })
})

test('portMappings: kept per node; each host port once (the registry\'s too); not for ssh hosts', (t) => {
  const cfg = parse('provider: {type: nspawn}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker, portMappings: [{hostPort: 8080, port: 30080}]}\n')
  t.deepEqual(cfg.nodes.map((n) => n.portMappings), [[], [{ hostPort: 8080, port: 30080 }]])
  const twice = 'provider: {type: nspawn}\naddons: {registry: {enabled: true, port: 5001}}\nnodes:\n  - {name: cp, role: control-plane, portMappings: [{hostPort: 5001, port: 30001}, {hostPort: 6001, port: 30002}]}\n  - {name: w1, role: worker, portMappings: [{hostPort: 6001, port: 30003}]}\n'
  const err = t.throws(() => parseConfig(twice, { file, env: {} }), { instanceOf: ConfigError }) as ConfigError
  t.is(err.issues.length, 2)
  t.regex(JSON.stringify(err.issues), /127\.0\.0\.1:5001 is already addons\.registry\.port/)
  t.regex(JSON.stringify(err.issues), /127\.0\.0\.1:6001 is already nodes\[0\]\.portMappings\[1\]/)
  const ssh = 'provider: {type: ssh}\nnodes:\n  - {name: cp, role: control-plane, address: 192.0.2.10, portMappings: [{hostPort: 8080, port: 30080}]}\n  - {name: w1, role: worker, address: 192.0.2.11}\n'
  const e2 = t.throws(() => parseConfig(ssh, { file, env: {} }), { instanceOf: ConfigError }) as ConfigError
  t.regex(JSON.stringify(e2.issues), /not available with provider\.type \\"ssh\\"/)
})
