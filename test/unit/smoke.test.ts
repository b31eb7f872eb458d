// Pure parts of the smoke suite and of external joins: JUnit XML, the check catalogue, --ttl
// parsing, and the manifest that lets workers of another config join a kubelab control plane.
import test from 'ava'
import { parseAllDocuments } from 'yaml'
import { parseTtl } from '../../scripts/commands/token.ts'
import { externalJoinManifest } from '../../scripts/lib/pki/bootstrap.ts'
import { CHECKS } from '../../scripts/lib/smoke/checks/index.ts'
import { junitXml } from '../../scripts/lib/smoke/junit.ts'
import { runCheck } from '../../scripts/lib/smoke/suite.ts'
import type { SmokeContext } from '../../scripts/lib/smoke/types.ts'
import { selectChecks } from '../../scripts/lib/smoke/run.ts'
import { UsageError } from '../../scripts/lib/errors.ts'

test('the catalogue: twenty checks (the issue\'s fifteen + NetworkPolicy + storage + metrics-server + load balancer + Ingress), unique ids, each with a timeout', (t) => {
  t.is(CHECKS.length, 20)
  t.is(new Set(CHECKS.map((c) => c.id)).size, 20)
  for (const id of ['network-policy', 'storage-pvc', 'metrics-top', 'loadbalancer', 'ingress']) t.true(CHECKS.some((c) => c.id === id), id)
  // The addons' checks run before the disruptive ones (kubelet killed, worker restarted).
  t.true(CHECKS.findIndex((c) => c.id === 'metrics-top') < CHECKS.findIndex((c) => c.id === 'self-healing'))
  t.true(CHECKS.findIndex((c) => c.id === 'loadbalancer') < CHECKS.findIndex((c) => c.id === 'self-healing'))
  t.true(CHECKS.every((c) => c.timeoutMs >= 30_000 && c.timeoutMs <= 300_000))
})

test('--check: the named checks in suite order, numbered as in the whole suite; an unknown id is a usage error', (t) => {
  const all = selectChecks()
  t.is(all.checks.length, CHECKS.length)
  const some = selectChecks(['dns', 'network-policy'])
  t.deepEqual(some.checks.map((c) => c.id), CHECKS.filter((c) => c.id === 'dns' || c.id === 'network-policy').map((c) => c.id))
  t.deepEqual(some.numbers, some.checks.map((c) => CHECKS.indexOf(c) + 1))
  t.throws(() => selectChecks(['dns', 'nope']), { instanceOf: UsageError, message: /unknown smoke check "nope"/ })
})

test('an addon\'s check is "not run" while the addon is off, and keeps its place', async (t) => {
  const ctx = { config: { addons: { coredns: true, storage: false, metricsServer: false, registry: { enabled: false } } } } as unknown as SmokeContext
  const ids = CHECKS.map((c) => c.id)
  for (const [id, name] of [['storage-pvc', 'storage'], ['metrics-top', 'metricsServer']] as const) {
    t.true(ids.includes(id))
    t.is(await runCheck(ctx, CHECKS.find((c) => c.id === id)!), `not run: addons.${name} is off`)
  }
})

test('JUnit: one testcase per check, failures counted, reasons escaped', (t) => {
  const xml = junitXml('kubelab-smoke', [
    { id: 'a', title: 'first', ok: true, durationMs: 1500, startedAt: 0, detail: 'fine & <ok>' },
    { id: 'b', title: 'second', ok: false, durationMs: 250, startedAt: 0, error: 'on "w-2": kube-proxy is inactive\nmore\x01' },
  ], new Date(0))
  t.is(xml.match(/<testcase /g)?.length, 2)
  t.regex(xml, /<testsuite name="kubelab-smoke" tests="2" failures="1" errors="0" skipped="0" time="1\.750"/)
  t.regex(xml, /name="01 a: first" time="1\.500"/)
  t.regex(xml, /<system-out>fine &amp; &lt;ok&gt;<\/system-out>/)
  t.regex(xml, /<failure message="on &quot;w-2&quot;: kube-proxy is inactive">on &quot;w-2&quot;: kube-proxy is inactive\nmore<\/failure>/)
})

test('--ttl: minutes, hours, days; anything else is a usage error', (t) => {
  t.is(parseTtl('30m'), 30 * 60_000)
  t.is(parseTtl('2h'), 2 * 3_600_000)
  t.is(parseTtl('1d'), 86_400_000)
  for (const bad of ['0h', '1w', 'h', '1.5h', '']) t.throws(() => parseTtl(bad), { message: /--ttl/ }, bad)
})

test('external join: public cluster-info (server + CA, no user), anonymous read of it only, node-proxier for nodes', (t) => {
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
  const docs = parseAllDocuments(externalJoinManifest('https://10.77.0.11:6443', ca)).map((d) => d.toJS() as any)
  t.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`), [
    'ConfigMap/kube-public/cluster-info', 'Role/kube-public/kubelab:cluster-info-reader',
    'RoleBinding/kube-public/kubelab:cluster-info-reader', 'ClusterRoleBinding//kubelab:node-proxier',
  ])
  const info = parseAllDocuments(docs[0].data.kubeconfig)[0]!.toJS() as any
  t.is(info.clusters[0].cluster.server, 'https://10.77.0.11:6443')
  t.is(Buffer.from(info.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), ca)
  t.deepEqual(info.users, [])
  t.deepEqual(docs[1].rules, [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['cluster-info'], verbs: ['get'] }])
  t.deepEqual(docs[2].subjects, [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'system:anonymous' }])
  t.deepEqual([docs[3].subjects[0].name, docs[3].roleRef.name], ['system:nodes', 'system:node-proxier'])
})
