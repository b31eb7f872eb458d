// The lifecycle's pure decisions: the version-skew policy, which machines removal may take, the
// remembered node allocations (a removed node shifts nobody), and which routes count as stale.
import test from 'ava'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { stabilizeWith } from '../../scripts/lib/lifecycle/allocations.ts'
import { checkRemovable, selectPrune } from '../../scripts/lib/lifecycle/prune.ts'
import { checkSkew, kubeletWithinSkew } from '../../scripts/lib/lifecycle/skew.ts'
import { UsageError } from '../../scripts/lib/errors.ts'
import { aptFailure } from '../../scripts/lib/lifecycle/os.ts'
import { staleRoutes } from '../../scripts/lib/steps/network-pod-routes.ts'

const config = (workers: string[], extra = '') => parseConfig(
  `name: t\nprovider: {type: nspawn}\n${extra}nodes:\n  - {name: cp, role: control-plane}\n${workers.map((w) => `  - {name: ${w}, role: worker}\n`).join('')}`,
  { file: '/x/c.yaml', env: {} },
)
const at = (v: string, kubelets: Record<string, string> = { cp: v, w1: v }) => ({ apiserver: v, kubelets })

test('skew: one minor up, control plane and kubelets, is allowed and lists every change', (t) => {
  const v = checkSkew(at('v1.34.4'), 'v1.35.4')
  t.true(v.ok, v.problems.join('; '))
  t.false(v.upToDate)
  t.deepEqual(v.changes.map((c) => `${c.node} ${c.from}->${c.to}`), ['control plane (kube-apiserver) v1.34.4->v1.35.4', 'cp v1.34.4->v1.35.4', 'w1 v1.34.4->v1.35.4'])
})

test('skew: same version is up to date; a patch upgrade is allowed', (t) => {
  t.true(checkSkew(at('v1.35.4'), 'v1.35.4').upToDate)
  const patch = checkSkew(at('v1.35.1'), 'v1.35.4')
  t.true(patch.ok)
  t.false(patch.upToDate)
})

test('skew: downgrades are refused, of the control plane and of a kubelet', (t) => {
  const down = checkSkew(at('v1.35.4'), 'v1.34.4')
  t.false(down.ok)
  t.regex(down.problems.join('\n'), /downgrade refused: the control plane runs v1\.35\.4/)
  t.regex(down.problems.join('\n'), /kubelet on w1 runs v1\.35\.4, newer than the target/)
  t.false(checkSkew(at('v1.35.4'), 'v1.35.3').ok, 'patch downgrade too')
})

test('skew: the control plane moves one minor at a time; the target must be supported', (t) => {
  const jump = checkSkew(at('v1.33.2'), 'v1.35.4')
  t.false(jump.ok)
  t.regex(jump.problems.join('\n'), /one minor version at a time: it runs v1\.33\.2, so upgrade to v1\.34\.x first/)
  const unsupported = checkSkew(at('v1.35.4'), 'v1.36.0')
  t.regex(unsupported.problems.join('\n'), /outside the supported range/)
  t.regex(checkSkew(at('v1.35.4'), '1.35').problems[0]!, /not a version/)
})

test('skew: a kubelet more than 3 minors behind the target is refused; suffixes are read', (t) => {
  const old = checkSkew({ apiserver: 'v1.34.0', kubelets: { w1: 'v1.31.9' } }, 'v1.35.0')
  t.regex(old.problems.join('\n'), /kubelet on w1 runs v1\.31\.9, more than 3 minor versions older/)
  t.true(checkSkew({ apiserver: 'v1.34.4+k3s1', kubelets: { w1: 'v1.32.0' } }, 'v1.35.4').ok)
  t.true(kubeletWithinSkew('v1.35.4', 'v1.34.4'))
  t.true(kubeletWithinSkew('v1.35.4', 'v1.32.0'))
  t.false(kubeletWithinSkew('v1.35.4', 'v1.31.0'), 'more than 3 older')
  t.false(kubeletWithinSkew('v1.34.4', 'v1.35.4'), 'newer than the API server')
})

test('prune: machines not in the config are taken; a control plane and the last worker are refused', (t) => {
  const { config: c } = config(['w1', 'w3'])
  const existing = [{ name: 'cp', role: 'control-plane' as const }, { name: 'w1', role: 'worker' as const }, { name: 'w2', role: 'worker' as const }, { name: 'w3', role: 'worker' as const }]
  t.deepEqual(selectPrune(c, existing), { remove: ['w2'], refused: [] })
  t.deepEqual(selectPrune(c, existing.slice(0, 2)), { remove: [], refused: [] }, 'nothing extra: nothing to do')
  const oldCp = selectPrune(c, [...existing, { name: 'cp-old', role: 'control-plane' }])
  t.deepEqual(oldCp.remove, ['w2'])
  t.is(oldCp.refused[0]!.name, 'cp-old')
  t.regex(oldCp.refused[0]!.reason, /control-plane node: it holds etcd/)
  const noWorkers = { ...c, nodes: c.nodes.filter((n) => n.role === 'control-plane') }
  t.regex(selectPrune(noWorkers, existing).refused.find((r) => r.name === 'w1')!.reason, /the last worker/)
})

test('node remove: refused while in the config, for a control plane, unknown names; allowed once removed', (t) => {
  const { config: c } = config(['w1', 'w3'])
  const existing = [{ name: 'cp', role: 'control-plane' as const }, { name: 'w1', role: 'worker' as const }, { name: 'w2', role: 'worker' as const }]
  t.regex(checkRemovable(c, existing, 'w1')!, /still in nodes of \/x\/c\.yaml.*remove it from nodes first/)
  t.regex(checkRemovable(c, existing, 'cp')!, /control-plane node/)
  t.regex(checkRemovable(c, existing, 'nope')!, /no node "nope"/)
  t.is(checkRemovable(c, existing, 'w2'), undefined)
})

test('allocations: removing a middle worker shifts nobody; a new node avoids every remembered value', (t) => {
  const first = config(['w1', 'w2', 'w3'])
  const remembered = { nodes: Object.fromEntries(first.config.nodes.map((n) => [n.name, { address: n.address, podCIDR: n.podCIDR }])) }
  t.deepEqual(first.config.nodes.map((n) => `${n.name} ${n.address} ${n.podCIDR}`), ['cp 10.77.0.11 10.244.0.0/24', 'w1 10.77.0.12 10.244.1.0/24', 'w2 10.77.0.13 10.244.2.0/24', 'w3 10.77.0.14 10.244.3.0/24'])
  // Without memory, w3 would take w2's address and pod CIDR.
  const shrunk = config(['w1', 'w3', 'w4'])
  t.is(shrunk.config.nodes[2]!.address, '10.77.0.13')
  const stable = stabilizeWith(shrunk, remembered)
  t.deepEqual(stable.nodes.map((n) => `${n.name} ${n.address} ${n.podCIDR}`), ['cp 10.77.0.11 10.244.0.0/24', 'w1 10.77.0.12 10.244.1.0/24', 'w3 10.77.0.14 10.244.3.0/24', 'w4 10.77.0.15 10.244.4.0/24'], 'w2 is still remembered (not yet removed)')
  // Once w2 is forgotten its values are free again.
  const { w2: _gone, ...rest } = remembered.nodes
  t.deepEqual(stabilizeWith(shrunk, { nodes: rest }).nodes.map((n) => `${n.name} ${n.address} ${n.podCIDR}`).slice(2), ['w3 10.77.0.14 10.244.3.0/24', 'w4 10.77.0.13 10.244.2.0/24'])
  t.is(stabilizeWith(shrunk, { nodes: {} }), shrunk.config, 'nothing remembered: the config as resolved')
})

test('allocations: values the YAML sets win, and a clash with a removed node still holding them is refused', (t) => {
  const first = config(['w1', 'w2'])
  const remembered = { nodes: Object.fromEntries(first.config.nodes.map((n) => [n.name, { address: n.address, podCIDR: n.podCIDR }])) }
  const moved = parseConfig('name: t\nprovider: {type: nspawn}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker, podCIDR: 10.244.9.0/24}\n  - {name: w2, role: worker}\n', { file: '/x/c.yaml', env: {} })
  t.is(stabilizeWith(moved, remembered).nodes[1]!.podCIDR, '10.244.9.0/24')
  const clash = parseConfig('name: t\nprovider: {type: nspawn}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n  - {name: w5, role: worker, address: 10.77.0.13}\n', { file: '/x/c.yaml', env: {} })
  const err = t.throws(() => stabilizeWith(clash, remembered), { instanceOf: UsageError })
  t.regex(err!.message, /w5 sets address 10\.77\.0\.13, which removed node w2 still holds/)
})

test('pod routes: only routes inside the cluster CIDR that are neither wanted nor the node\'s own are stale', (t) => {
  const table = [
    'default via 10.87.0.1 dev host0',
    '10.87.0.0/24 dev host0 proto kernel scope link src 10.87.0.12',
    '10.244.0.0/24 via 10.87.0.11 dev host0',
    '10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1',
    '10.244.2.0/24 via 10.87.0.13 dev host0',
    '10.244.3.0/24 via 10.87.0.14 dev host0',
    '10.245.0.0/24 via 10.87.0.9 dev host0',
  ].join('\n')
  t.deepEqual(staleRoutes(table, { clusterCIDR: '10.244.0.0/16', own: '10.244.1.0/24', wanted: ['10.244.0.0/24', '10.244.3.0/24'] }), ['10.244.2.0/24'])
  t.deepEqual(staleRoutes(table, { clusterCIDR: '10.244.0.0/16', own: '10.244.1.0/24', wanted: ['10.244.0.0/24', '10.244.2.0/24', '10.244.3.0/24'] }), [])
})

test('upgrade --os: the cause of a failed apt-get update in a few words', (t) => {
  t.is(aptFailure("Err:1 http://m/debian bookworm InRelease\n  Temporary failure resolving 'm'\nE: Some index files failed to download."), 'name resolution failed')
  t.is(aptFailure('Err:1 http://10.0.0.1/debian bookworm InRelease\n  Could not connect to 10.0.0.1:80 (10.0.0.1). - connect (101: Network is unreachable)'), 'no route to the package source')
  t.is(aptFailure('E: Something else went wrong'), 'E: Something else went wrong')
  t.is(aptFailure(''), undefined)
})
