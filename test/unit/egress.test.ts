// egress: as the rest of kubelab sees it: the switches (KUBELAB_EGRESS, KUBELAB_UPLINK_NETNS,
// KUBELAB_DNS), the uplink's link network, the upstream resolvers read from resolv.conf files, the
// proxy with NO_PROXY completed, and the errors for bad values (file:line or the variable's name).
import test from 'ava'
import path from 'node:path'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { defaultUplinkCidr } from '../../scripts/lib/config/resolve.ts'
import { describeUpstream, nameservers, upstream } from '../../scripts/lib/egress/upstream.ts'
import { networkSummary, summaryLines } from '../../scripts/lib/egress/summary.ts'
import { ConfigError } from '../../scripts/lib/errors.ts'
import { egressForcedOff } from '../../scripts/lib/providers/common/uplink.ts'
import { FIXTURES } from '../helpers/paths.ts'

const file = path.join(FIXTURES, 'config', 'cluster.config.yaml')
const nodes = 'nodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n'
const sshNodes = 'nodes:\n  - {name: cp, role: control-plane, address: 192.0.2.10}\n  - {name: w1, role: worker, address: 192.0.2.11}\n'
/** The YAML given plus two nodes (with addresses for the ssh provider). */
const load = (yaml: string, env: Record<string, string> = {}) => parseConfig(`${yaml}${yaml.includes('type: ssh') ? sshNodes : nodes}`, { file, env, display: 'x.yaml' }).config
const issues = (yaml: string, env: Record<string, string> = {}): Record<string, string> => {
  try {
    load(yaml, env)
  } catch (e) {
    if (e instanceof ConfigError) return Object.fromEntries(e.issues.map((i) => [i.path, `${i.location.line ?? i.location.origin}: ${i.message}`]))
    throw e
  }
  return {}
}

test('default: egress on, an uplink to the host with a /30 of 100.64.0.0/10 picked by the cluster name', (t) => {
  const c = load('provider: {type: nspawn}\n')
  t.true(c.egress.enabled)
  t.deepEqual(c.egress.uplink, { cidr: defaultUplinkCidr('kubelab'), peerAddress: c.egress.uplink!.peerAddress, labAddress: c.egress.uplink!.labAddress })
  const [a, b, cc, d, prefix] = c.egress.uplink!.cidr.split(/[./]/).map(Number)
  t.is(a, 100)
  t.true(b! >= 64 && b! < 128)
  t.is(prefix, 30)
  t.is(c.egress.uplink!.peerAddress, `100.${b}.${cc}.${d! + 1}`)
  t.is(c.egress.uplink!.labAddress, `100.${b}.${cc}.${d! + 2}`)
  t.not(defaultUplinkCidr('one'), defaultUplinkCidr('two'))
  t.deepEqual(c.egress.dns, [])
  t.is(c.egress.proxy, undefined)
})

test('KUBELAB_EGRESS=off: no uplink, no upstream, no proxy even when the host has one', (t) => {
  for (const v of ['off', 'OFF', 'false', '0']) {
    const c = load('provider: {type: nspawn}\n', { KUBELAB_EGRESS: v, HTTP_PROXY: 'http://proxy.example:3128' })
    t.deepEqual(c.egress, { enabled: false, dns: [] }, v)
    t.is(upstream(c).via, 'none')
  }
  // The environment beats the YAML.
  t.true(load('provider: {type: nspawn}\negress: {enabled: false}\n', { KUBELAB_EGRESS: 'on' }).egress.enabled)
  t.regex(issues('provider: {type: nspawn}\n', { KUBELAB_EGRESS: 'maybe' })['egress.enabled']!, /^KUBELAB_EGRESS \(environment\): must be a boolean; got "maybe"/)
})

test('KUBELAB_UPLINK_NETNS and KUBELAB_DNS: the uplink into that namespace, CoreDNS forwarding to those resolvers', (t) => {
  const c = load('provider: {type: nspawn}\negress: {uplinkCIDR: 100.64.200.0/30}\n', { KUBELAB_UPLINK_NETNS: 'wan', KUBELAB_DNS: '198.51.100.53, 198.51.100.54' })
  t.deepEqual(c.egress.uplink, { netns: 'wan', cidr: '100.64.200.0/30', peerAddress: '100.64.200.1', labAddress: '100.64.200.2' })
  t.deepEqual(upstream(c), { via: 'servers', servers: ['198.51.100.53', '198.51.100.54'], from: 'egress.dns / KUBELAB_DNS' })
  t.regex(issues('provider: {type: nspawn}\n', { KUBELAB_DNS: '198.51.100.999' })['egress.dns[0]']!, /must be an IPv4 address/)
})

test('upstream from resolv.conf: the uplink namespace\'s own, else the host\'s, else systemd-resolved\'s; loopback stubs never', (t) => {
  t.deepEqual(nameservers('# x\nnameserver 127.0.0.53\nnameserver 192.0.2.1\n nameserver   192.0.2.2 \nsearch lan\n'), ['192.0.2.1', '192.0.2.2'])
  const files: Record<string, string> = {
    '/etc/resolv.conf': 'nameserver 127.0.0.53\n',
    '/run/systemd/resolve/resolv.conf': 'nameserver 192.0.2.7\n',
    '/etc/netns/wan/resolv.conf': 'nameserver 198.51.100.53\n',
  }
  const read = (f: string) => files[f] ?? ''
  const host = load('provider: {type: nspawn}\n')
  t.deepEqual(upstream(host, read), { via: 'servers', servers: ['192.0.2.7'], from: '/run/systemd/resolve/resolv.conf' })
  const wan = load('provider: {type: nspawn}\n', { KUBELAB_UPLINK_NETNS: 'wan' })
  t.deepEqual(upstream(wan, read), { via: 'servers', servers: ['198.51.100.53'], from: '/etc/netns/wan/resolv.conf' })
  const none = upstream(host, () => 'nameserver 127.0.0.1\n')
  t.is(none.via, 'none')
  t.regex(describeUpstream(none), /no non-loopback nameserver .*set egress\.dns or KUBELAB_DNS/)
  // Machines with their own network: their own resolv.conf.
  const ssh = load('provider: {type: ssh}\n')
  t.deepEqual(upstream(ssh, read), { via: 'node' })
})

test('proxy: from egress.proxy or the host, NO_PROXY completed with the cluster\'s networks, names and domain', (t) => {
  const c = load('provider: {type: nspawn}\negress: {proxy: {https: "http://proxy.example:3128", noProxy: [internal.example]}}\n', { HTTP_PROXY: 'http://ignored.example:1' })
  t.is(c.egress.proxy!.https, 'http://proxy.example:3128')
  t.is(c.egress.proxy!.http, undefined, 'egress.proxy set: the host\'s variables are not mixed in')
  for (const entry of ['internal.example', 'localhost', '127.0.0.1', '10.244.0.0/16', '10.96.0.0/16', '10.77.0.0/24', 'cp', 'w1', '.svc', '.cluster.local']) {
    t.true(c.egress.proxy!.noProxy.includes(entry), entry)
  }
  const fromHost = load('provider: {type: nspawn}\n', { http_proxy: 'http://proxy.example:8080', NO_PROXY: 'corp.example, "bad' })
  t.is(fromHost.egress.proxy!.http, 'http://proxy.example:8080')
  t.true(fromHost.egress.proxy!.noProxy.includes('corp.example'))
  t.false(fromHost.egress.proxy!.noProxy.some((e) => e.includes('"')), 'a malformed host entry never reaches a unit file')
})

test('bad egress values: named with their line', (t) => {
  const byPath = issues(`provider: {type: nspawn, network: 10.77.0.0/24}
egress:
  uplinkCIDR: 10.77.0.0/30
  proxy: {http: "http://proxy.example:99999", https: "proxy.example:3128"}
`)
  t.regex(byPath['egress.uplinkCIDR']!, /^3: overlaps provider\.network 10\.77\.0\.0\/24/)
  t.regex(byPath['egress.proxy.http']!, /^4: has port 99999, outside 1-65535/)
  t.regex(byPath['egress.proxy.https']!, /^4: must match an http\(s\) URL|^4: .*http\(s\) URL/)
  t.regex(issues('provider: {type: nspawn}\negress: {uplinkCIDR: 100.64.0.0/31}\n')['egress.uplinkCIDR']!, /^2: is too small \(\/31\)/)
  t.regex(issues('provider: {type: ssh}\negress: {uplinkNetns: wan}\n')['egress.uplinkNetns']!, /only applies to machines in a lab namespace/)
  t.regex(issues('provider: {type: nspawn}\n', { HTTPS_PROXY: 'http://a b' })['egress']!, /the host's HTTPS_PROXY .* must be an http\(s\) URL/)
  t.deepEqual(issues('provider: {type: nspawn}\n', { HTTPS_PROXY: 'http://a b', KUBELAB_EGRESS: 'off' }), {}, 'egress off: the host\'s proxy is not used, so not judged')
})

test('summary for status, doctor and the logs bundle: egress, upstream, proxy without user info, registries by variable names', (t) => {
  const c = load(`provider: {type: nspawn}
addons: {registry: {enabled: true}}
egress: {uplinkCIDR: 100.64.200.0/30, dns: [198.51.100.53], proxy: {https: "http://user:pw@proxy.example:3128"}}
registries:
  docker.io: {mirrors: [https://mirror.example.internal]}
  ghcr.io: {credentials: {usernameEnv: U, passwordEnv: P}}
`, { U: 'robot', P: 'pw-secret' })
  const s = networkSummary(c, { uplink: { peer: 'x', cidr: '100.64.200.0/30', comment: 'kubelab:kubelab', forwardingWasOff: false } })
  t.deepEqual(s.egress.uplink, { to: "the host's namespace", cidr: '100.64.200.0/30', natAddress: '100.64.200.2', made: true })
  t.is(s.egress.proxy!.https, 'http://proxy.example:3128')
  t.deepEqual(s.localRegistry, { enabled: true, push: 'localhost:5001' })
  const text = summaryLines(s).join('\n')
  t.regex(text, /^egress: uplink to the host's namespace \(100\.64\.200\.0\/30, NAT to 100\.64\.200\.2\)$/m)
  t.regex(text, /^ {2}upstream DNS: 198\.51\.100\.53 \(from egress\.dns \/ KUBELAB_DNS\)$/m)
  t.regex(text, /^registry docker\.io: mirrors https:\/\/mirror\.example\.internal$/m)
  t.regex(text, /^registry ghcr\.io: credentials from \$U \/ \$P$/m)
  t.false(/pw-secret|user:pw/.test(JSON.stringify(s) + text), 'no secret in the summary')
  t.regex(summaryLines(networkSummary(c, {})).join('\n'), /not made yet \(run: npx kubelab up\)/)
  t.regex(summaryLines(networkSummary(load('provider: {type: nspawn}\n', { KUBELAB_EGRESS: 'off' }))).join('\n'), /^egress: off/m)
})

test('the process\'s KUBELAB_EGRESS=off wins over any config: no uplink is made', (t) => {
  for (const v of ['off', 'OFF', 'false', '0']) t.true(egressForcedOff({ KUBELAB_EGRESS: v }), v)
  for (const v of [undefined, '', 'on', 'true']) t.false(egressForcedOff({ KUBELAB_EGRESS: v }), String(v))
  t.true(egressForcedOff(), 'the test runner itself runs with egress off (package.json ava.environmentVariables)')
})
