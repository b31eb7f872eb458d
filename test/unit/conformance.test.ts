// `kubelab conformance`'s pure parts: which tests each mode selects (matched against real test
// names, and not against their neighbours), the e2e.test argv, the lab kubeconfig, where e2e.test
// runs, and the JUnit summary of a ginkgo v2 report.
import test from 'ava'
import { parse } from 'yaml'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { e2eArgs, LITE_TESTS, parseMode, QUICK_TEST, selection, summarizeJunit } from '../../scripts/lib/conformance/modes.ts'
import { e2eLauncher, labKubeconfig } from '../../scripts/lib/conformance/run.ts'
import { UsageError } from '../../scripts/lib/errors.ts'

const NEIGHBOURS = [
  '[sig-node] Pods should contain environment variables for services [NodeConformance] [Conformance]',
  '[sig-node] Pods should be submitted and removed [NodeConformance] [Conformance] [Slow]',
  '[sig-node] Pods Extended Pods Set QOS Class should be set on Pods [Conformance]',
  '[sig-network] Services should serve a basic endpoint from pods [Conformance]',
]

test('modes: quick is exactly one test, lite a handful, certified every [Conformance] test', (t) => {
  const quick = new RegExp(selection('quick').focus)
  // ginkgo matches "<suite description> <spec text>".
  t.true(quick.test(`Kubernetes e2e suite ${QUICK_TEST}`))
  t.false(LITE_TESTS.filter((n) => n !== QUICK_TEST).some((n) => quick.test(n)))
  const lite = new RegExp(selection('lite').focus)
  t.true(LITE_TESTS.every((n) => lite.test(`Kubernetes e2e suite ${n}`)))
  t.false(NEIGHBOURS.some((n) => lite.test(n)))
  const certified = new RegExp(selection('certified').focus)
  t.true([...LITE_TESTS, ...NEIGHBOURS].every((n) => certified.test(n)))
  t.false(certified.test('[sig-node] Pods should cap back-off at MaxContainerBackOff [Slow] [NodeConformance]'))
  t.true(LITE_TESTS.length >= 5 && LITE_TESTS.every((n) => n.includes('[Conformance]')))
})

test('--focus replaces the mode, --skip leaves tests out; a bad regex or mode is a usage error', (t) => {
  t.deepEqual(selection('certified', 'Pods should be updated'), { focus: 'Pods should be updated' })
  t.throws(() => selection('quick', '(['), { instanceOf: UsageError })
  t.deepEqual(selection('certified', '\\[Feature:NetworkPolicy\\]', 'SCTPConnectivity'), { focus: '\\[Feature:NetworkPolicy\\]', skip: 'SCTPConnectivity' })
  t.deepEqual(selection('certified', undefined, 'Serial'), { focus: '\\[Conformance\\]', skip: 'Serial' })
  t.throws(() => selection('quick', undefined, '(['), { instanceOf: UsageError, message: /--skip is not a valid/ })
  t.is(parseMode(undefined), 'quick')
  t.is(parseMode('lite'), 'lite')
  t.throws(() => parseMode('full'), { instanceOf: UsageError, message: /unknown conformance mode "full"/ })
})

test('e2e.test argv', (t) => {
  t.deepEqual(e2eArgs({ kubeconfig: '/s/k', reportDir: '/r', selection: { focus: 'F', skip: 'S' }, timeout: '1h', kubectl: '/c/kubectl' }), [
    '--kubeconfig=/s/k', '--provider=skeleton', '--report-dir=/r', '--ginkgo.focus=F', '--ginkgo.skip=S', '--ginkgo.timeout=1h',
    '--ginkgo.no-color', '--ginkgo.v', '--kubectl-path=/c/kubectl',
  ])
  t.true(e2eArgs({ kubeconfig: 'k', reportDir: 'r', selection: { focus: 'F' }, timeout: '1h', dryRun: true }).includes('--ginkgo.dry-run'))
})

test('lab kubeconfig: only the server changes', (t) => {
  const admin = 'apiVersion: v1\nkind: Config\nclusters:\n  - name: lab\n    cluster:\n      certificate-authority-data: Q0E=\n      server: https://127.0.0.1:6443\nusers:\n  - name: admin\n    user:\n      client-key-data: S0VZ\n'
  const out = parse(labKubeconfig(admin, 'https://10.86.0.11:6443'))
  t.is(out.clusters[0].cluster.server, 'https://10.86.0.11:6443')
  t.is(out.clusters[0].cluster['certificate-authority-data'], 'Q0E=')
  t.is(out.users[0].user['client-key-data'], 'S0VZ')
  t.throws(() => labKubeconfig('kind: Config\n', 'https://x'), { instanceOf: UsageError })
})

test('launcher: the lab namespace when it exists; ssh hosts and multipass VMs directly; otherwise a usage error', (t) => {
  const nspawn = parseConfig('name: c1\nprovider: {type: nspawn}\nnodes: [{name: cp, role: control-plane}, {name: w, role: worker}]\n', { file: '/x/c.yaml', env: {} }).config
  t.deepEqual(e2eLauncher(nspawn, (ns) => ns === 'kubelab-c1').prefix, ['ip', 'netns', 'exec', 'kubelab-c1'])
  t.throws(() => e2eLauncher(nspawn, () => false), { instanceOf: UsageError, message: /kubelab-c1 does not exist/ })
  const ssh = { ...nspawn, provider: { ...nspawn.provider, type: 'ssh' } } as typeof nspawn
  t.deepEqual(e2eLauncher(ssh, () => false).prefix, [])
  const multipass = { ...nspawn, provider: { ...nspawn.provider, type: 'multipass' } } as typeof nspawn
  t.deepEqual(e2eLauncher(multipass, () => false).prefix, [])
  const qemu = { ...nspawn, provider: { ...nspawn.provider, type: 'qemu' } } as typeof nspawn
  t.throws(() => e2eLauncher(qemu, () => false), { instanceOf: UsageError, message: /kubelab-c1 does not exist/ })
})

test('JUnit summary of a ginkgo v2 report (passed, failed, skipped)', (t) => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" disabled="0" errors="0" failures="1" time="12.3">
  <testsuite name="Kubernetes e2e suite" package="/" tests="3" disabled="0" skipped="1" errors="0" failures="1" time="12.3">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="0.1"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="passed" time="4.1"></testcase>
    <testcase name="[It] [sig-node] Pods should be updated [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="failed" time="5"><failure message="boom" type="failed">x &amp; y</failure></testcase>
    <testcase name="[It] [sig-network] Services should &#34;work&#34;" classname="Kubernetes e2e suite" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
  </testsuite>
</testsuites>`
  const s = summarizeJunit(xml)
  t.is(s.tests, 3)
  t.is(s.failures, 1)
  t.is(s.skipped, 1)
  t.deepEqual(s.passed, ['[sig-node] Pods should get a host IP [NodeConformance] [Conformance]'])
  t.deepEqual(s.failed, ['[sig-node] Pods should be updated [NodeConformance] [Conformance]'])
})
