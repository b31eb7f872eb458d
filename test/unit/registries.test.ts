// registries: and addons.registry as the rest of kubelab sees them: resolved values (CA path,
// credentials from the environment, defaults), mirror URL rules, the forwards a control plane
// gets, and the containerd files rendered as data.
import test from 'ava'
import path from 'node:path'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { mirrorUrlProblem } from '../../scripts/lib/config/validate.ts'
import { forwardsFor, leftoverForwards } from '../../scripts/lib/providers/common/forward.ts'
import { containerdConfig, hostsToml, registryHostsSpecs, registryServer } from '../../scripts/lib/templates/files.ts'
import { ConfigError } from '../../scripts/lib/errors.ts'
import { FIXTURES } from '../helpers/paths.ts'

const file = path.join(FIXTURES, 'config', 'cluster.config.yaml')
const nodes = 'nodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n'

test('resolved: defaults off, port 5001, no registries', (t) => {
  const { config } = parseConfig(`provider: {type: nspawn}\n${nodes}`, { file, env: {} })
  t.deepEqual(config.addons.registry, { enabled: false, port: 5001 })
  t.deepEqual(config.registries, [])
  t.is(config.secrets.registryAuth, undefined)
})

test('resolved: the CA beside the config file, credentials read from the named variables', (t) => {
  const { config } = parseConfig(`provider: {type: nspawn}
registries:
  ghcr.io:
    ca: valid-registries.ca.pem
    credentials: {usernameEnv: U, passwordEnv: P}
  quay.io: {insecure: true, mirrors: [https://m.example.internal]}
${nodes}`, { file, env: { U: 'robot', P: 's3cret' } })
  t.deepEqual(config.registries, [
    { host: 'ghcr.io', mirrors: [], ca: path.join(FIXTURES, 'config', 'valid-registries.ca.pem'), insecure: false, credentials: { usernameEnv: 'U', passwordEnv: 'P' } },
    { host: 'quay.io', mirrors: ['https://m.example.internal'], insecure: true },
  ])
  t.deepEqual(config.secrets.registryAuth, { 'ghcr.io': { username: 'robot', password: 's3cret' } })
  t.false(JSON.stringify(config.registries).includes('s3cret'))
})

test('an unset credentials variable is named; the addon needs a managed control plane and owns localhost:PORT', (t) => {
  const err = t.throws(() => parseConfig(`provider: {type: nspawn}
controlPlane: {mode: external, endpoint: https://10.0.0.1:6443, tokenEnv: T, caCertHash: sha256:${'a'.repeat(64)}}
addons: {registry: {enabled: true, port: 5002}}
registries:
  localhost:5002: {insecure: true}
  ghcr.io: {credentials: {usernameEnv: U, passwordEnv: NOPE}}
nodes:
  - {name: w1, role: worker}
`, { file, env: { U: 'x', T: 'abcdef.0123456789abcdef' }, display: 'x.yaml' }), { instanceOf: ConfigError })
  const byPath = Object.fromEntries(err!.issues.map((i) => [i.path, `${i.location.line}: ${i.message}`]))
  t.regex(byPath['registries.ghcr.io.credentials.passwordEnv']!, /^6: names environment variable NOPE, which is not set/)
  t.regex(byPath['addons.registry.enabled']!, /^3: needs controlPlane.mode "managed"/)
  t.regex(byPath['registries.localhost:5002']!, /^5: is the local registry of addons.registry/)
})

test('mirror URLs: http(s) with a host, nothing secret or odd in them', (t) => {
  t.is(mirrorUrlProblem('https://mirror.example.internal'), undefined)
  t.is(mirrorUrlProblem('http://10.0.0.5:5000/v2'), undefined)
  t.regex(mirrorUrlProblem('mirror.example.internal')!, /must be a URL such as https:\/\/mirror\.example\.com/)
  t.regex(mirrorUrlProblem('ftp://mirror')!, /http:\/\/ or https:\/\//)
  t.regex(mirrorUrlProblem('https://u:p@mirror')!, /no user info/)
  t.regex(mirrorUrlProblem('https://mirror?x=1')!, /no query or fragment/)
  t.regex(mirrorUrlProblem('https://mirror:99999')!, /port from 1 to 65535/)
})

test('forwards: the registry only on the control plane and only with the addon, at its fixed port', (t) => {
  const cp = { role: 'control-plane' } as const
  t.deepEqual(forwardsFor(cp).map((f) => f.name), ['ssh', 'apiserver'])
  t.deepEqual(forwardsFor(cp, { enabled: false, port: 5001 }).map((f) => f.name), ['ssh', 'apiserver'])
  t.deepEqual(forwardsFor(cp, { enabled: true, port: 5009 }).at(-1), { name: 'registry', port: 5000, hostPort: 5009 })
  t.deepEqual(forwardsFor({ role: 'worker' }, { enabled: true, port: 5009 }).map((f) => f.name), ['ssh'])
})

test('forwards: a node\'s portMappings at their fixed host ports; exactly the specs must run (a removed mapping is not left over)', (t) => {
  const specs = forwardsFor({ role: 'worker', portMappings: [{ hostPort: 8080, port: 30080 }] })
  t.deepEqual(specs, [{ name: 'ssh', port: 22 }, { name: 'port-8080', port: 30080, hostPort: 8080 }])
  const pids = { nspawn: 7, 'socket:ssh': 8, 'loopback:ssh': 9, 'socket:port-9090': 10, 'loopback:port-9090': 11 }
  t.deepEqual(leftoverForwards(pids, specs), ['port-9090'])
  t.deepEqual(leftoverForwards(pids, [{ name: 'ssh', port: 22 }, { name: 'port-9090', port: 30090, hostPort: 9090 }]), [])
})

test('credentials in config.toml are keyed by the host requests go to (docker.io: registry-1.docker.io)', (t) => {
  const toml = containerdConfig({ cgroupV1: false, restrictOomScoreAdj: false, conntrackReadOnly: false }, {
    'docker.io': { username: 'a', password: 'b' }, 'r.example.internal:5000': { username: 'c', password: 'd' },
  })
  t.regex(toml, /registry\.configs\."registry-1\.docker\.io"\.auth\]\nusername = "a"\npassword = "b"/)
  t.regex(toml, /registry\.configs\."r\.example\.internal:5000"\.auth\]/)
  t.regex(toml, /config_path = "\/etc\/containerd\/certs\.d"/)
})

test('hosts.toml: docker.io goes to registry-1.docker.io; a bare host has no host table; output is stable', (t) => {
  t.is(registryServer('docker.io', false), 'https://registry-1.docker.io')
  t.is(registryServer('r.example.internal:5000', true), 'http://r.example.internal:5000')
  const bare = hostsToml({ host: 'quay.io', mirrors: [], server: 'https://quay.io', ca: false })
  t.false(bare.includes('[host'))
  const two = hostsToml({ host: 'quay.io', mirrors: ['https://b.example', 'https://a.example'], server: 'https://quay.io', ca: false })
  t.true(two.indexOf('https://b.example') < two.indexOf('https://a.example'), 'mirrors keep their order')
})

test('a mirror whose own host has a CA in the config is checked against that CA', (t) => {
  const { config } = parseConfig(`provider: {type: nspawn}
registries:
  docker.io: {mirrors: [https://mirror.example.internal, https://other.example]}
  mirror.example.internal: {ca: valid-registries.ca.pem}
${nodes}`, { file, env: {} })
  const [docker] = registryHostsSpecs(config.registries)
  const toml = hostsToml(docker!)
  t.regex(toml, /\[host\."https:\/\/mirror\.example\.internal"\]\ncapabilities = \[ "pull", "resolve" \]\nca = "\/etc\/containerd\/certs\.d\/mirror\.example\.internal\/ca\.crt"/)
  t.notRegex(toml.split('[host."https://other.example"]')[1]!, /\bca =/)
})
