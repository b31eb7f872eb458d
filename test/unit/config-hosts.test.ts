// Host names as node addresses (provider ssh): resolved once when the cluster is opened, said in
// one line each, the IPv4 address used from then on; unresolvable or colliding names are config errors.
import test from 'ava'
import { resolveNodeHosts, systemLookup, type Lookup } from '../../scripts/lib/config/hosts.ts'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { ConfigError } from '../../scripts/lib/errors.ts'

const ssh = (a: string, b: string, c: string) =>
  `provider: {type: ssh}\nnodes:\n  - {name: cp, role: control-plane, address: ${a}}\n  - {name: w1, role: worker, address: ${b}}\n  - {name: w2, role: worker, address: ${c}}\n`
const load = (text: string) => parseConfig(text, { file: '/x/c.yaml', env: {} }).config

/** A resolver from a table, counting its calls; never the network. */
function table(entries: Record<string, string>): Lookup & { calls: string[] } {
  const calls: string[] = []
  const fn = ((host: string) => {
    calls.push(host)
    return entries[host] ? { address: entries[host]! } : { error: 'ENOTFOUND' }
  }) as Lookup & { calls: string[] }
  fn.calls = calls
  return fn
}

test('host names become their addresses, each looked up once and said once; IPv4 addresses are kept', (t) => {
  const config = load(ssh('cp.lab.example', '10.0.0.11', 'w2.lab.example'))
  const lookup = table({ 'cp.lab.example': '10.0.0.10', 'w2.lab.example': '10.0.0.12' })
  const said: string[] = []
  const resolved = resolveNodeHosts(config, (l) => said.push(l), lookup)
  t.deepEqual(resolved.nodes.map((n) => n.address), ['10.0.0.10', '10.0.0.11', '10.0.0.12'])
  t.deepEqual(lookup.calls, ['cp.lab.example', 'w2.lab.example'])
  t.deepEqual(said, [
    'cp.lab.example resolved to 10.0.0.10 (once; kubelab uses the address from here on)',
    'w2.lab.example resolved to 10.0.0.12 (once; kubelab uses the address from here on)',
  ])
  t.is(config.nodes[0]!.address, 'cp.lab.example', 'the loaded config itself is not changed')
})

test('a config of addresses only is returned as it is, with no lookup', (t) => {
  const config = load(ssh('10.0.0.10', '10.0.0.11', '10.0.0.12'))
  const lookup = table({})
  t.is(resolveNodeHosts(config, () => t.fail('nothing to say'), lookup), config)
  t.deepEqual(lookup.calls, [])
})

test('a name that does not resolve, and a name resolving to another node\'s address, are config errors', (t) => {
  const missing = t.throws(() => resolveNodeHosts(load(ssh('10.0.0.10', 'gone.lab.example', '10.0.0.12')), () => {}, table({})), { instanceOf: ConfigError })
  t.deepEqual(missing!.issues.map((i) => `${i.path}: ${i.message}`), ['nodes[1].address: "gone.lab.example" does not resolve to an IPv4 address (ENOTFOUND)'])
  const same = t.throws(() => resolveNodeHosts(load(ssh('10.0.0.10', 'w1.lab.example', '10.0.0.12')), () => {}, table({ 'w1.lab.example': '10.0.0.10' })), { instanceOf: ConfigError })
  t.regex(same!.issues[0]!.message, /"w1\.lab\.example" resolves to 10\.0\.0\.10, the address of nodes\[0\] too/)
})

test('the system resolver: localhost from /etc/hosts (no network is asked)', (t) => {
  t.deepEqual(systemLookup('localhost'), { address: '127.0.0.1' })
})
