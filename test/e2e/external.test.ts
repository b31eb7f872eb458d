// `controlPlane: external`: a worker joins a control plane that another config brought up, given
// only its endpoint, a bootstrap token and the CA hash (kubelab never SSHes to that control plane).
// The two clusters live in their own lab namespaces; the test links those two namespaces with a
// veth pair and routes, as a network between a lab and a remote control plane. A wrong token is
// reported as such, fast; the right one joins; a re-run changes nothing.
import test from 'ava'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { $ } from 'zx'
import { OTHER_ADDONS_OFF } from '../helpers/addons.ts'
import { kubelab } from '../helpers/cli.ts'
import { ROOT } from '../helpers/paths.ts'

$.verbose = false
const a = `klxa${process.pid}`
const b = `klxb${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-external-'))
const env = { KUBELAB_STATE: path.join(work, 'state') }
const configA = path.join(work, 'a.yaml')
const configB = path.join(work, 'b.yaml')
const base = parse(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8')) as Record<string, unknown>
writeFileSync(configA, JSON.stringify({
  ...base, name: a, provider: { type: 'nspawn', network: '10.88.0.0/24' }, addons: { ...base.addons as object, ...OTHER_ADDONS_OFF },
  nodes: [{ name: 'control-plane', role: 'control-plane' }, { name: 'worker-1', role: 'worker' }],
}))
const configBWith = (join: { endpoint: string; caCertHash: string }) => writeFileSync(configB, JSON.stringify({
  name: b,
  provider: { type: 'nspawn', network: '10.89.0.0/24' },
  controlPlane: { mode: 'external', endpoint: join.endpoint, tokenEnv: 'JOIN_TOKEN', caCertHash: join.caCertHash },
  // A pod CIDR of its own inside the other cluster's cluster CIDR.
  nodes: [{ name: 'edge-1', role: 'worker', podCIDR: '10.244.9.0/24' }],
}))
let join: { token: string; endpoint: string; caCertHash: string } | undefined

test.after.always(async () => {
  await kubelab(['down', '-c', configB], { env: { ...env, JOIN_TOKEN: 'aaaaaa.bbbbbbbbbbbbbbbb' } })
  await kubelab(['down', '-c', configA], { env })
  rmSync(work, { recursive: true, force: true })
})

test.serial('a managed control plane hands out a join token with its endpoint and CA hash', async (t) => {
  const up = await kubelab(['up', '-c', configA, '--no-smoke'], { env, timeoutMs: 600_000 })
  t.is(up.code, 0, up.stderr)
  const r = await kubelab(['token', 'create', '-c', configA, '--ttl', '30m', '--json'], { env })
  t.is(r.code, 0, r.stderr)
  join = JSON.parse(r.stdout) as typeof join & {}
  t.regex(join.token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/)
  t.is(join.endpoint, 'https://10.88.0.11:6443')
  t.regex(join.caCertHash, /^sha256:[0-9a-f]{64}$/)
  t.false(r.stderr.includes(join.token), 'the token goes to stdout only')
})

test.serial('a wrong token is reported as wrong or expired, without a hang', async (t) => {
  t.truthy(join)
  configBWith(join!)
  const machines = await kubelab(['up', '-c', configB, '--machines-only'], { env: { ...env, JOIN_TOKEN: 'aaaaaa.bbbbbbbbbbbbbbbb' }, timeoutMs: 300_000 })
  t.is(machines.code, 0, machines.stderr)
  // The wire between the two labs: a veth pair from lab to lab, routes both ways, forwarding on.
  const [labA, labB] = [`kubelab-${a}`, `kubelab-${b}`]
  await $`ip link add klx-a netns ${labA} type veth peer name klx-b netns ${labB}`
  await $`ip -n ${labA} addr add 10.90.0.1/30 dev klx-a && ip -n ${labA} link set klx-a up`
  await $`ip -n ${labB} addr add 10.90.0.2/30 dev klx-b && ip -n ${labB} link set klx-b up`
  await $`ip -n ${labA} route add 10.89.0.0/24 via 10.90.0.2 && ip -n ${labB} route add 10.88.0.0/24 via 10.90.0.1`
  await $`ip netns exec ${labA} sysctl -qw net.ipv4.ip_forward=1 && ip netns exec ${labB} sysctl -qw net.ipv4.ip_forward=1`

  const started = Date.now()
  const r = await kubelab(['up', '-c', configB], { env: { ...env, JOIN_TOKEN: 'aaaaaa.bbbbbbbbbbbbbbbb' }, timeoutMs: 300_000 })
  t.is(r.code, 1, r.stderr)
  t.regex(r.stderr, /join:discovery/)
  t.regex(r.stderr, /edge-1/)
  t.regex(r.stderr, /rejected .*401 Unauthorized.*wrong or has expired/)
  t.false(r.stderr.includes('bbbbbbbbbbbbbbbb'), 'the token secret is never printed')
  t.true(Date.now() - started < 120_000, `took ${Date.now() - started} ms`)
})

test.serial('the right token joins the worker, which becomes Ready at the version; a re-run changes nothing', async (t) => {
  const joinEnv = { ...env, JOIN_TOKEN: join!.token }
  const r = await kubelab(['up', '-c', configB], { env: joinEnv, timeoutMs: 600_000 })
  t.is(r.code, 0, r.stderr)
  t.false(r.stderr.includes(join!.token.split('.')[1]!), 'the token secret is never printed')
  const node = await kubelab(['kubectl', '-c', configA, '--', 'get', 'node', 'edge-1', '-o', 'jsonpath={.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}'], { env })
  t.is(node.code, 0, node.stderr)
  t.is(node.stdout.trim(), 'v1.35.4 True')
  // kube-proxy runs there with the node's own identity.
  const units = await kubelab(['ssh', 'edge-1', '-c', configB, '--', 'systemctl is-active kubelet kube-proxy containerd'], { env: joinEnv })
  t.is(units.stdout.trim(), 'active\nactive\nactive', units.stderr)
  const again = await kubelab(['up', '-c', configB], { env: joinEnv, timeoutMs: 300_000 })
  t.is(again.code, 0, again.stderr)
  t.notRegex(again.stderr, /\d+ changed/, again.stderr)
})
