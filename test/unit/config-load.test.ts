// Loading: defaults, derived values, precedence (flags > environment > .env > YAML > defaults),
// and where override problems are reported.
import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig, parseConfig } from '../../scripts/lib/config/load.ts'
import { didYouMean } from '../../scripts/lib/config/validate.ts'
import { ConfigError } from '../../scripts/lib/errors.ts'
import { ROOT } from '../helpers/paths.ts'

const minimal = `nodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n  - {name: w2, role: worker}\n`

test('the repo default config loads: 1 control plane + 2 workers on provider auto', (t) => {
  const { config } = loadConfig(path.join(ROOT, 'cluster.config.yaml'), { env: {} })
  t.is(config.provider.type, 'auto')
  t.deepEqual(config.nodes.map((n) => n.role), ['control-plane', 'worker', 'worker'])
  t.is(config.controlPlane.mode, 'managed')
})

test('defaults and derived values', (t) => {
  const { config } = parseConfig(minimal, { file: '/x/c.yaml', env: {} })
  t.is(config.name, 'kubelab')
  t.is(config.kubernetes.apiServiceIP, '10.96.0.1')
  t.is(config.kubernetes.dnsServiceIP, '10.96.0.10')
  t.deepEqual(config.nodes.map((n) => n.podCIDR), ['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24'])
  t.deepEqual(config.nodes.map((n) => n.address), ['10.77.0.11', '10.77.0.12', '10.77.0.13'])
  t.is(config.provider.gateway, '10.77.0.1')
  t.is(config.nodes[0]!.memoryMiB, 2048)
  t.is(config.ssh.user, 'root')
})

test('derived pod CIDRs and addresses skip the explicit ones', (t) => {
  const text = `provider: {network: 10.77.0.0/24}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker, podCIDR: 10.244.0.0/24, address: 10.77.0.11}\n  - {name: w2, role: worker, memory: 1536MiB}\n`
  const { config } = parseConfig(text, { file: '/x/c.yaml', env: {} })
  t.deepEqual(config.nodes.map((n) => n.podCIDR), ['10.244.1.0/24', '10.244.0.0/24', '10.244.2.0/24'])
  t.deepEqual(config.nodes.map((n) => n.address), ['10.77.0.12', '10.77.0.11', '10.77.0.13'])
  t.is(config.nodes[2]!.memoryMiB, 1536)
})

test('precedence: flags > environment > .env > YAML > defaults', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelab-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'cluster.config.yaml')
  writeFileSync(file, `provider: {type: qemu}\nkubernetes: {version: v1.34.4}\n${minimal}`)
  writeFileSync(path.join(dir, '.env'), 'KUBELAB_PROVIDER=nspawn\nKUBELAB_KUBERNETES_VERSION=v1.35.4\nKUBELAB_SSH_USER=fromdotenv\n')

  t.is(loadConfig(file, { env: {} }).config.provider.type, 'nspawn', '.env beats YAML')
  t.is(loadConfig(file, { env: {} }).config.ssh.user, 'fromdotenv')
  t.is(loadConfig(file, { env: {} }).config.kubernetes.version, 'v1.35.4', '.env beats YAML (v1.34.4)')
  const emptyEnv = path.join(dir, 'empty.env')
  writeFileSync(emptyEnv, '')
  t.is(loadConfig(file, { env: {}, envFile: emptyEnv }).config.provider.type, 'qemu',
    'another (empty) .env and YAML stays')
  // The versions lock pins one patch per minor: the layers alternate between the two pinned versions.
  const env = { KUBELAB_KUBERNETES_VERSION: 'v1.34.4' }
  t.is(loadConfig(file, { env }).config.kubernetes.version, 'v1.34.4', 'environment beats .env (v1.35.4)')
  const flags = [{ path: ['kubernetes', 'version'], value: 'v1.35.4', origin: '--kubernetes-version (flag)' }]
  t.is(loadConfig(file, { env, flags }).config.kubernetes.version, 'v1.35.4', 'flags beat environment (v1.34.4)')
  const noYaml = path.join(dir, 'bare.yaml')
  writeFileSync(noYaml, minimal)
  t.is(loadConfig(noYaml, { env: {}, envFile: emptyEnv }).config.kubernetes.version, 'v1.35.4', 'default')
})

test('a bad value from the environment is reported with its origin, not a file line', (t) => {
  const err = t.throws(() => parseConfig(minimal, { file: '/x/c.yaml', env: { KUBELAB_PROVIDER: 'vbox' } }), { instanceOf: ConfigError })
  t.is(err!.issues.length, 1)
  t.is(err!.issues[0]!.path, 'provider.type')
  t.is(err!.issues[0]!.location.origin, 'KUBELAB_PROVIDER (environment)')
  t.regex(err!.issues[0]!.message, /must be one of auto, nspawn, qemu, multipass, ssh; got "vbox"/)
})

test('secrets come from the environment the YAML names, never from the YAML', (t) => {
  const text = `controlPlane:\n  mode: external\n  endpoint: https://cp.example.internal:6443\n  tokenEnv: JOIN_TOKEN\n  caCertHash: sha256:${'a'.repeat(64)}\nnodes:\n  - {name: w1, role: worker}\n`
  const { config } = parseConfig(text, { file: '/x/c.yaml', env: { JOIN_TOKEN: 'abcdef.0123456789abcdef' } })
  t.is(config.secrets.bootstrapToken, 'abcdef.0123456789abcdef')
  const bad = t.throws(() => parseConfig(text, { file: '/x/c.yaml', env: { JOIN_TOKEN: 'not-a-token' } }), { instanceOf: ConfigError })
  t.regex(bad!.issues[0]!.message, /does not hold a bootstrap token/)
  t.false(bad!.issues[0]!.message.includes('not-a-token'), 'the secret value is not echoed')
})

test('positions point at the offending value', (t) => {
  const text = `nodes:\n  - name: cp\n    role: control-plane\n  - name: w1\n    role: boss\n`
  const err = t.throws(() => parseConfig(text, { file: '/x/c.yaml', display: 'c.yaml', env: {} }), { instanceOf: ConfigError })
  t.deepEqual(err!.issues.map((i) => [i.path, i.location.line, i.location.col]), [['nodes[1].role', 5, 11]])
})

test('did-you-mean suggests close keys only', (t) => {
  t.is(didYouMean('provder', ['provider', 'nodes']), 'provider')
  t.is(didYouMean('Nodes', ['provider', 'nodes']), 'nodes')
  t.is(didYouMean('zzz', ['provider', 'nodes']), undefined)
})

test('a missing config file is a ConfigError naming it', (t) => {
  const err = t.throws(() => loadConfig('/nonexistent/cluster.config.yaml', { env: {} }), { instanceOf: ConfigError })
  t.regex(err!.issues[0]!.message, /file not found/)
})

test('input files: what is not a small regular text file is one problem naming the file', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelab-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, data: string | Buffer) => { writeFileSync(path.join(dir, name), data); return path.join(dir, name) }
  const cases: [string, string, RegExp][] = [
    ['a device', '/dev/null', /is not a regular file/],
    ['a directory', dir, /is a directory/],
    ['over 1 MiB of text', write('big.yaml', `# ${'x'.repeat(1024 * 1024)}\n${minimal}`), /too big for a config/],
    ['not UTF-8 (no NUL)', write('latin1.yaml', Buffer.from([0x6e, 0x3a, 0x20, 0xe9, 0xff, 0x0a])), /is not UTF-8 text/],
    ['binary', write('nul.yaml', Buffer.from('nodes: []\0\n')), /is a binary file/],
  ]
  for (const [what, file, why] of cases) {
    const err = t.throws(() => loadConfig(file, { env: {}, display: 'shown.yaml' }), { instanceOf: ConfigError }, what)
    t.deepEqual(err!.issues.map((i) => [i.path, i.location.file, i.location.line]), [['', 'shown.yaml', undefined]], what)
    t.regex(err!.issues[0]!.message, why, what)
  }
  const config = write('c.yaml', minimal)
  const env = t.throws(() => loadConfig(config, { env: {}, envFile: path.join(dir, 'missing.env') }), { instanceOf: ConfigError })
  t.is(env!.file, path.join(dir, 'missing.env'))
  t.regex(env!.issues[0]!.message, /file not found \(named by --env-file\)/)
  t.notThrows(() => loadConfig(config, { env: {} }), 'a missing .env beside the config is fine')
})

test('many problems: at most 20 listed and the rest counted; long values clipped', (t) => {
  const nodes = Array.from({ length: 30 }, (_, i) => `  - {name: n${i}, role: boss}`).join('\n')
  const err = t.throws(() => parseConfig(`name: "${'N'.repeat(5000)}"\nnodes:\n${nodes}\n`, { file: '/x/c.yaml', env: {} }), { instanceOf: ConfigError })
  t.is(err!.issues.length, 21)
  t.regex(err!.issues[20]!.message, /^\.\.\. and 11 more problems$/)
  t.true(err!.issues.every((i) => i.message.length < 400), 'each message bounded')
  t.regex(err!.issues[0]!.message, /more characters\)$/)
})
