// network.policy: the default, the enforcer's read-only RBAC, a kubeconfig per node in the PKI
// set (its own identity, the shared group), the binary wanted only when the switch is on, the
// smoke check's policies, and the unit's flags (firewall only).
import test from 'ava'
import { parseAllDocuments } from 'yaml'
import { neededComponents } from '../../scripts/lib/artifacts/resolve.ts'
import { loadLock, DEFAULT_LOCK_FILE } from '../../scripts/lib/artifacts/lock.ts'
import { resolve as resolveInput } from '../../scripts/lib/config/resolve.ts'
import type { ConfigInput } from '../../scripts/lib/config/schema.ts'
import { controlPlanePki, KUBE_ROUTER_GROUP } from '../../scripts/lib/pki/control-plane.ts'
import { pkiFileInfo } from '../../scripts/lib/pki/store.ts'
import { POLICIES } from '../../scripts/lib/smoke/checks/netpol.ts'
import { rbacManifest, KUBE_ROUTER_ROLE } from '../../scripts/lib/steps/network-policy.ts'
import { STEPS } from '../../scripts/lib/steps/index.ts'
import { masqueradeLine } from '../../scripts/lib/steps/network-pod-routes.ts'
import { cniConflist } from '../../scripts/lib/templates/files.ts'
import { renderTemplate } from '../../scripts/lib/templates/render.ts'

const input = (extra: Partial<ConfigInput> = {}): ConfigInput => ({
  name: 'np', provider: { type: 'nspawn' },
  nodes: [{ name: 'cp', role: 'control-plane' }, { name: 'w1', role: 'worker' }],
  ...extra,
})
const resolve = (i: ConfigInput) => resolveInput(i, {}, '/tmp/np/cluster.config.yaml')

test('network.policy is on by default and can be turned off', (t) => {
  t.true(resolve(input()).network.policy)
  t.false(resolve(input({ network: { policy: false } })).network.policy)
})

test('the step runs on every node when on, not when off', (t) => {
  const step = STEPS.find((s) => s.id === 'network:policy')!
  t.is(step.on, 'all')
  t.true(step.when!(resolve(input())))
  t.false(step.when!(resolve(input({ network: { policy: false } }))))
})

test('RBAC: one ClusterRole, read-only (get/list/watch), bound to the enforcers\' group only', (t) => {
  const docs = parseAllDocuments(rbacManifest().yaml).map((d) => d.toJS() as any)
  t.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), [`ClusterRole/${KUBE_ROUTER_ROLE}`, `ClusterRoleBinding/${KUBE_ROUTER_ROLE}`])
  const verbs = new Set(docs[0].rules.flatMap((r: any) => r.verbs))
  t.deepEqual([...verbs].sort(), ['get', 'list', 'watch'])
  t.false(docs[0].rules.some((r: any) => r.resources.includes('*') || r.resources.includes('secrets')))
  t.deepEqual(docs[1].subjects, [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: KUBE_ROUTER_GROUP }])
  t.is(rbacManifest().sha256, rbacManifest().sha256)
})

test('PKI: a kubeconfig per node with its own name in the shared group, installed as kube-router\'s; none when off', (t) => {
  const config = resolve(input())
  const cp = config.nodes[0]!
  const files = controlPlanePki(config, cp).kubeconfigs.filter((k) => k.file.startsWith('kube-router/'))
  t.deepEqual(files.map((k) => [k.file, k.user.commonName, k.user.organizations]), [
    ['kube-router/cp.conf', `${KUBE_ROUTER_GROUP}:cp`, [KUBE_ROUTER_GROUP]],
    ['kube-router/w1.conf', `${KUBE_ROUTER_GROUP}:w1`, [KUBE_ROUTER_GROUP]],
  ])
  t.like(pkiFileInfo('kube-router/w1.conf'), { installPath: '/var/lib/kube-router/kubeconfig', mode: 0o600, nodes: 'all', secret: true })
  const off = resolve(input({ network: { policy: false } }))
  t.false(controlPlanePki(off, off.nodes[0]!).kubeconfigs.some((k) => k.file.startsWith('kube-router/')))
})

test('artifacts: kube-router is needed only when network.policy is on', (t) => {
  const lock = loadLock(DEFAULT_LOCK_FILE)
  const names = (i: ConfigInput) => neededComponents(resolve(i), lock).map((n) => n.component.name)
  t.true(names(input()).includes('kube-router'))
  t.false(names(input({ network: { policy: false } })).includes('kube-router'))
})

test('the unit: firewall controller only, the node\'s name and the service range', (t) => {
  const unit = renderTemplate('systemd/kube-router.service', { binDir: '/usr/local/bin', nodeName: 'w1', serviceCIDR: '10.96.0.0/16', healthPort: '20244' })
  for (const flag of ['--run-firewall=true', '--run-router=false', '--run-service-proxy=false', '--hostname-override=w1', '--service-cluster-ip-range=10.96.0.0/16']) t.true(unit.includes(flag), flag)
})

test('the smoke check\'s policies: deny ingress for all, allow role=allowed on 8080, deny egress for role=allowed', (t) => {
  t.deepEqual(POLICIES.denyIngress.spec, { podSelector: {}, policyTypes: ['Ingress'] })
  t.deepEqual(POLICIES.allowOne.spec.ingress[0]!.from, [{ podSelector: { matchLabels: { role: 'allowed' } } }])
  t.deepEqual(POLICIES.denyEgress.spec, { podSelector: { matchLabels: { role: 'allowed' } }, policyTypes: ['Egress'] })
})

test('pods keep their addresses across nodes (no bridge ipMasq); only traffic leaving the cluster CIDR is masqueraded', (t) => {
  t.false(JSON.parse(cniConflist(resolve(input()).nodes[1]!)).plugins[0].ipMasq)
  t.is(masqueradeLine('10.244.1.0/24', '10.244.0.0/16'),
    'iptables -w -t nat -C POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 -m comment --comment kubelab-pod-masquerade -j MASQUERADE 2>/dev/null'
    + ' || iptables -w -t nat -A POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 -m comment --comment kubelab-pod-masquerade -j MASQUERADE')
})
