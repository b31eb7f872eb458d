// The worker lifecycle on nspawn: 1 control plane + 2 workers at v1.34.4 -> a third worker added
// (only it joins; the others keep their kubelet) -> a Deployment with pods on worker-2 -> worker-2
// removed from the config and `up --prune` (its pods rescheduled, Node object, machine and pod
// route gone) -> kubernetes.version v1.35.4 and `kubelab upgrade` (every node Ready at v1.35.4,
// the Deployment still Available) -> down. The smoke suite runs after each stage.
import test, { type ExecutionContext } from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { OTHER_ADDONS_OFF } from '../helpers/addons.ts'
import { kubelab } from '../helpers/cli.ts'

const name = 'h5life'
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-life-'))
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: path.join(work, 'state') }
const LONG = 900_000

function writeConfig(version: string, workers: string[]): void {
  writeFileSync(config, JSON.stringify({
    name,
    provider: { type: 'nspawn', network: '10.87.0.0/24' },
    kubernetes: { version },
    addons: OTHER_ADDONS_OFF,
    nodes: [{ name: 'control-plane', role: 'control-plane' }, ...workers.map((w) => ({ name: w, role: 'worker' }))],
  }))
}

// -c first: for `ssh NODE -- CMD` and `kubectl -- ARGS` everything after `--` is the command.
const run = (args: string[], timeoutMs = 120_000) => kubelab(['-c', config, ...args], { env, timeoutMs })
async function ok(t: ExecutionContext, args: string[], timeoutMs?: number): Promise<string> {
  const started = Date.now()
  const r = await run(args, timeoutMs)
  t.is(r.code, 0, `kubelab ${args.join(' ')}\n${r.stderr}`)
  if (r.code !== 0) throw new Error(`kubelab ${args.join(' ')} exited ${r.code}`)
  t.log(`kubelab ${args.join(' ')}: ${((Date.now() - started) / 1000).toFixed(1)}s`)
  return r.stdout
}
const kubectl = (t: ExecutionContext, ...args: string[]) => ok(t, ['kubectl', '--', ...args])
const ssh = (t: ExecutionContext, node: string, cmd: string) => ok(t, ['ssh', node, '--', cmd])
/** `name version ready` per Node. */
const nodes = async (t: ExecutionContext) => (await kubectl(t, 'get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}')).trim().split('\n')
const kubeletPid = async (t: ExecutionContext, node: string) => (await ssh(t, node, 'systemctl show -p MainPID --value kubelet')).trim()
/** node -> pod CIDR, as the config resolves now (plan --json). */
const podCidrs = async (t: ExecutionContext) => Object.fromEntries((JSON.parse(await ok(t, ['plan', '--json'])) as { nodes: { name: string; podCIDR: string }[] }).nodes.map((n) => [n.name, n.podCIDR]))
const podNodes = async (t: ExecutionContext) => (await kubectl(t, 'get', 'pods', '-l', 'app=life', '-o', 'jsonpath={range .items[*]}{.spec.nodeName} {.status.phase}{"\\n"}{end}')).trim().split('\n')

/**
 * `kubelab smoke` after a stage (`up --no-smoke` above, so each stage is smoke-tested exactly once):
 * what a change of nodes can break (Ready nodes, pods spread and talking across nodes, Services,
 * DNS) after the intermediate stages; the whole suite after the upgrade, the last stage.
 */
const NODE_CHANGE_CHECKS = ['nodes-ready', 'deployment-spread', 'pod-to-pod', 'service-clusterip', 'service-nodeport', 'dns']
async function smoke(t: ExecutionContext, stage: string, checks: readonly string[] = NODE_CHANGE_CHECKS): Promise<void> {
  const r = await run(['smoke', ...(checks.length ? ['--check', checks.join(',')] : [])], 600_000)
  t.is(r.code, 0, `smoke after ${stage}:\n${r.stderr}`)
  t.log(`smoke after ${stage}: ${/smoke: .*$/m.exec(r.stderr)?.[0] ?? '?'}`)
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: {name: life, namespace: default}
spec:
  replicas: 6
  selector: {matchLabels: {app: life}}
  template:
    metadata: {labels: {app: life}}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: life}}}
      containers:
      - {name: pause, image: registry.k8s.io/pause:3.10.1, imagePullPolicy: Never}
`

test.after.always(async () => {
  // A second try: a machine's cgroups can vanish while the first one walks them.
  if ((await kubelab(['down', '-c', config], { env, timeoutMs: 300_000 })).code !== 0) await kubelab(['down', '-c', config], { env, timeoutMs: 300_000 })
  rmSync(work, { recursive: true, force: true })
})

test.serial('up: 1 control plane + 2 workers at v1.34.4', async (t) => {
  t.timeout(LONG)
  writeConfig('v1.34.4', ['worker-1', 'worker-2'])
  await ok(t, ['up', '--no-smoke'], LONG)
  t.deepEqual(await nodes(t), ['control-plane v1.34.4 True', 'worker-1 v1.34.4 True', 'worker-2 v1.34.4 True'])
  await smoke(t, 'up')
})

test.serial('a third worker in the config: up joins only it', async (t) => {
  t.timeout(LONG)
  const before = await Promise.all(['control-plane', 'worker-1', 'worker-2'].map((n) => kubeletPid(t, n)))
  const cidrsBefore = await podCidrs(t)
  writeConfig('v1.34.4', ['worker-1', 'worker-2', 'worker-3'])
  await ok(t, ['up', '--no-smoke'], LONG)
  t.deepEqual(await nodes(t), ['control-plane v1.34.4 True', 'worker-1 v1.34.4 True', 'worker-2 v1.34.4 True', 'worker-3 v1.34.4 True'])
  t.deepEqual(await Promise.all(['control-plane', 'worker-1', 'worker-2'].map((n) => kubeletPid(t, n))), before, 'the existing nodes kept their kubelet')
  const cidrs = await podCidrs(t)
  t.like(cidrs, cidrsBefore)
  // The existing nodes route to the new node's pod CIDR.
  t.regex(await ssh(t, 'worker-1', 'ip -4 route show'), new RegExp(`^${cidrs['worker-3']!.replace(/\./g, '\\.')} via `, 'm'))
  await smoke(t, 'scale up')
})

test.serial('worker-2 removed from the config: up --prune drains it, deletes Node and machine, drops its route', async (t) => {
  t.timeout(LONG)
  await ssh(t, 'control-plane', `cat > /tmp/life.yaml <<'EOF'\n${DEPLOYMENT}EOF\n/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f /tmp/life.yaml`)
  await kubectl(t, 'rollout', 'status', 'deployment/life', '--timeout=180s')
  const placed = await podNodes(t)
  t.true(placed.some((l) => l.startsWith('worker-2 ')), `some pods on worker-2: ${placed.join(', ')}`)
  const cidrs = await podCidrs(t)

  // The refusals first: a node still in the config, a control plane.
  const still = await run(['node', 'remove', 'worker-2'])
  t.is(still.code, 2, still.stderr)
  t.regex(still.stderr, /still in nodes .*remove it from nodes first/)
  const cp = await run(['node', 'remove', 'control-plane'])
  t.regex(cp.stderr, /control-plane node: it holds etcd/)

  writeConfig('v1.34.4', ['worker-1', 'worker-3'])
  const warned = await run(['up', '--no-smoke'], LONG)
  t.is(warned.code, 0, warned.stderr)
  t.regex(warned.stderr, /not in .* any more: worker-2/)
  await ok(t, ['up', '--prune', '--no-smoke'], LONG)

  t.deepEqual(await nodes(t), ['control-plane v1.34.4 True', 'worker-1 v1.34.4 True', 'worker-3 v1.34.4 True'])
  const status = JSON.parse(await ok(t, ['status', '--json'])) as { machines: { name: string }[] }
  t.deepEqual(status.machines.map((m) => m.name), ['control-plane', 'worker-1', 'worker-3'], 'machine gone')
  await kubectl(t, 'rollout', 'status', 'deployment/life', '--timeout=180s')
  const after = await podNodes(t)
  t.is(after.length, 6)
  t.true(after.every((l) => /^worker-[13] Running$/.test(l)), `rescheduled on the remaining workers: ${after.join(', ')}`)
  t.like(await podCidrs(t), { 'worker-1': cidrs['worker-1'], 'worker-3': cidrs['worker-3'] }, 'the others keep their pod CIDRs')
  for (const n of ['control-plane', 'worker-1', 'worker-3']) {
    t.notRegex(await ssh(t, n, 'ip -4 route show'), new RegExp(`^${cidrs['worker-2']!.replace(/\./g, '\\.')} `, 'm'), `${n} has no route to worker-2's pods`)
  }
  await smoke(t, 'remove')
})

test.serial('kubernetes.version v1.35.4: up refuses, plan shows the dry run, upgrade moves every node', async (t) => {
  t.timeout(LONG)
  writeConfig('v1.35.4', ['worker-1', 'worker-3'])
  const refused = await run(['up', '--no-smoke'], LONG)
  t.is(refused.code, 1, refused.stderr)
  t.regex(refused.stderr, /runs v1\.34\.4, the config asks for v1\.35\.4.*\n[\s\S]*kubelab upgrade/)
  const plan = await ok(t, ['plan'])
  t.regex(plan, /worker-3 +v1\.34\.4 -> v1\.35\.4/)
  t.regex(plan, /skew: ok/)

  await ok(t, ['upgrade'], LONG)
  t.deepEqual(await nodes(t), ['control-plane v1.35.4 True', 'worker-1 v1.35.4 True', 'worker-3 v1.35.4 True'])
  t.is((await kubectl(t, 'version', '-o', 'json')).includes('"gitVersion": "v1.35.4"'), true)
  await kubectl(t, 'wait', '--for=condition=Available', 'deployment/life', '--timeout=180s')
  t.is((await kubectl(t, 'get', 'nodes', '-o', 'jsonpath={.items[*].spec.unschedulable}')).trim(), '', 'every node uncordoned')
  // Nothing left to do: a second upgrade and an up change nothing.
  t.regex(await ok(t, ['upgrade']), /already at v1\.35\.4/)
  await smoke(t, 'upgrade', [])
})

test.serial('upgrade --os skips nodes without a package source quickly', async (t) => {
  t.timeout(LONG)
  const started = Date.now()
  const out = await ok(t, ['upgrade', '--os'], 300_000)
  t.regex(out, /control-plane: skipped: no package source reachable from control-plane/)
  t.regex(out, /worker-3: skipped: no package source reachable from worker-3/)
  t.true(Date.now() - started < 120_000)
})
