// node/cluster-api.ts: object paths from manifests, and the two ways a GET reaches the API server:
// from the host through the control plane's API-server forward (a real HTTPS server here, with the
// cluster PKI kubelab issues: client certificate checked), and kubectl on the node without one.
import test from 'ava'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ADDON_KINDS } from '../../scripts/lib/addons/manifest.ts'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { managedPki } from '../../scripts/lib/converge/inputs.ts'
import { apiGet, hostReadsApi, objectPath, resourceOf } from '../../scripts/lib/node/cluster-api.ts'
import { fakeContext } from '../helpers/fake-runner.ts'

test('resourceOf: the resource of every kind an addon applies', (t) => {
  const expected: Record<string, string> = {
    apiservice: 'apiservices', deployment: 'deployments', daemonset: 'daemonsets', service: 'services', configmap: 'configmaps',
    serviceaccount: 'serviceaccounts', role: 'roles', rolebinding: 'rolebindings', clusterrole: 'clusterroles',
    clusterrolebinding: 'clusterrolebindings', storageclass: 'storageclasses', namespace: 'namespaces', secret: 'secrets',
    customresourcedefinition: 'customresourcedefinitions', validatingwebhookconfiguration: 'validatingwebhookconfigurations',
    ingressclass: 'ingressclasses',
  }
  t.deepEqual(Object.keys(expected).sort(), [...ADDON_KINDS].sort(), 'every ADDON_KIND has an expectation here')
  for (const [kind, resource] of Object.entries(expected)) t.is(resourceOf(kind), resource, kind)
  t.is(resourceOf('NetworkPolicy'), 'networkpolicies')
  t.is(resourceOf('IPAddressPool'), 'ipaddresspools')
  t.is(resourceOf('Gateway'), 'gateways')
})

test('objectPath: core, grouped, namespaced and cluster-scoped objects', (t) => {
  t.is(objectPath({ apiVersion: 'v1', kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }), '/api/v1/namespaces/kube-system/serviceaccounts/coredns')
  t.is(objectPath({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'system:coredns' }), '/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Acoredns')
  t.is(objectPath({ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', name: 'kubelab', namespace: 'metallb-system' }), '/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/kubelab')
})

const config = parseConfig('name: t\nprovider: {type: nspawn}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n', { file: '/x/c.yaml', env: {} }).config

test('without a forward: kubectl get --raw on the control plane; NotFound is 404; one read per round', async (t) => {
  const { ctx, nodes } = fakeContext(config)
  const cp = nodes[0]!
  let calls = 0
  cp.runner.on((s) => s.includes(' get --raw /api/v1/nodes/w1'), () => (calls++, { stdout: '{"metadata":{"name":"w1"}}' }))
  cp.runner.on((s) => s.includes(' get --raw /api/v1/nodes/gone'), { exitCode: 1, stderr: 'Error from server (NotFound): nodes "gone" not found' })
  t.false(hostReadsApi(ctx))
  const round = { ...ctx, reads: new Map<string, Promise<unknown>>() }
  const [a, b] = await Promise.all([apiGet(round, '/api/v1/nodes/w1'), apiGet(round, '/api/v1/nodes/w1')])
  t.is(a.status, 200)
  t.is(JSON.parse(a.body).metadata.name, 'w1')
  t.is(b, a)
  t.is(calls, 1)
  t.is((await apiGet(ctx, '/api/v1/nodes/gone')).status, 404)
})

test('through the forward: HTTPS from the host with the admin certificate, metadata only on request; a dead forward falls back to kubectl', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelab-api-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pki = (await managedPki(dir, config))!.bundle
  const seen: { path: string; accept: string; cn: string }[] = []
  const server = createServer({
    cert: readFileSync(path.join(dir, 'apiserver.crt')), key: readFileSync(path.join(dir, 'apiserver.key')),
    ca: readFileSync(pki.ca.local), requestCert: true, rejectUnauthorized: true,
  }, (req, res) => {
    const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate()
    seen.push({ path: req.url ?? '', accept: String(req.headers.accept), cn: String(peer.subject?.CN) })
    if (req.url === '/api/v1/nodes/w1') res.end('{"kind":"Node","metadata":{"name":"w1"}}')
    else res.writeHead(404).end('{"kind":"Status","reason":"NotFound"}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { ctx, nodes } = fakeContext(config)
  const port = (server.address() as AddressInfo).port
  const cp = { ...nodes[0]!, machine: { ...nodes[0]!.machine, forwards: { apiserver: port } } }
  const host = { ...ctx, nodes: [cp, nodes[1]!], pki }
  t.true(hostReadsApi(host))
  t.is((await apiGet(host, '/api/v1/nodes/w1')).status, 200)
  t.is((await apiGet(host, '/api/v1/namespaces/x/secrets/y', { metadataOnly: true })).status, 404)
  t.deepEqual(seen.map((s) => s.path), ['/api/v1/nodes/w1', '/api/v1/namespaces/x/secrets/y'])
  t.is(seen[0]!.cn, 'kubernetes-admin', 'the admin client certificate')
  t.regex(seen[1]!.accept, /as=PartialObjectMetadata/)

  // The forward gone: the same read through kubectl on the node.
  await new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  nodes[0]!.runner.on((s) => s.includes(' get --raw /api/v1/nodes/w1'), { stdout: '{"metadata":{"name":"w1","via":"kubectl"}}' })
  const r = await apiGet(host, '/api/v1/nodes/w1')
  t.is(r.status, 200)
  t.is(JSON.parse(r.body).metadata.via, 'kubectl')
})
