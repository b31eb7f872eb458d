// Host keys pinned by the config: known_hosts lines read as ssh(1) reads them (patterns, ports,
// hashed names, markers), the key type of a blob, and the config fields (a missing or bad
// known_hosts file, a malformed fingerprint) refused with their file:line:col.
import test from 'ava'
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { ConfigError } from '../../scripts/lib/errors.ts'
import { fingerprint } from '../../scripts/lib/remote/hostkeys.ts'
import { keyTypeOf, knownHostKeys, parseKnownHosts } from '../../scripts/lib/remote/known-hosts.ts'
import { hostKeyPinsFor } from '../../scripts/lib/remote/machine.ts'

const dir = mkdtempSync(path.join(os.tmpdir(), 'kubelab-knownhosts-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

/** An ssh-ed25519 public key blob with 32 bytes of `fill`. */
const blob = (fill: number) => {
  const t = Buffer.from('ssh-ed25519')
  const len = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
  return Buffer.concat([len(t.length), t, len(32), Buffer.alloc(32, fill)])
}
const A = blob(1)
const B = blob(2)
const C = blob(3)
const line = (hosts: string, b: Buffer) => `${hosts} ssh-ed25519 ${b.toString('base64')}`

test('patterns, ports, negation and hashed names match as in ssh(1)', (t) => {
  const salt = Buffer.alloc(20, 7)
  const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.5]:2222').digest('base64')}`
  const { entries, problems } = parseKnownHosts([
    '# a comment',
    line('10.0.0.1,node-a', A),
    line('[10.0.0.1]:2222', B),
    line('10.0.0.*,!10.0.0.7', C),
    line(hashed, B),
    `@cert-authority ${line('*.lab', A)}`,
    '',
  ].join('\n'), 'kh')
  t.deepEqual(problems, [])
  const fps = (host: string, port = 22) => knownHostKeys(entries, host, port).fingerprints
  t.deepEqual(fps('10.0.0.1'), [fingerprint(A), fingerprint(C)])
  t.deepEqual(fps('10.0.0.1', 2222), [fingerprint(B)], 'another port: only [host]:port entries')
  t.deepEqual(fps('10.0.0.7'), [], 'negated')
  t.deepEqual(fps('NODE-A'), [fingerprint(A)], 'names match case-insensitively')
  t.deepEqual(fps('10.0.0.5', 2222), [fingerprint(B)], 'hashed')
  t.deepEqual(fps('x.lab'), [], '@cert-authority lines are not host keys')
})

test('@revoked keys are revoked for every host; bad lines are problems with their line', (t) => {
  const { entries, problems } = parseKnownHosts(`@revoked ${line('*', C)}\n10.0.0.1 ssh-ed25519\n@trusted x ssh-ed25519 AAAA\n`, 'kh')
  t.deepEqual(knownHostKeys(entries, '10.9.9.9', 22).revoked, [fingerprint(C)])
  t.deepEqual(problems, ['kh:2: not a known_hosts entry (HOSTS KEYTYPE BASE64-KEY [comment])', 'kh:3: unknown marker @trusted'])
})

test('the key type is read from the blob', (t) => {
  t.is(keyTypeOf(A), 'ssh-ed25519')
  t.is(keyTypeOf(Buffer.from([0, 0])), 'unknown')
})

function load(yaml: string): ConfigError {
  const file = path.join(dir, 'cluster.config.yaml')
  try {
    parseConfig(yaml, { file, env: {} })
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('config accepted')
}

const base = (ssh: string, node = '') => `provider: {type: ssh}
ssh: {${ssh}}
nodes:
  - {name: cp, role: control-plane, address: 10.0.0.1${node}}
  - {name: w1, role: worker, address: 10.0.0.2}
`

test('config: a missing or malformed known_hosts file and a bad fingerprint are refused at their position', (t) => {
  const missing = load(base('knownHosts: ./nope'))
  t.deepEqual(missing.issues.map((i) => [i.path, i.location.line]), [['ssh.knownHosts', 2]])
  t.regex(missing.issues[0]!.message, /file not found: .*nope/)
  writeFileSync(path.join(dir, 'bad_hosts'), 'garbage\n')
  t.regex(load(base('knownHosts: bad_hosts')).issues[0]!.message, /bad_hosts:1: not a known_hosts entry/)
  t.regex(load(base('knownHosts: .')).issues[0]!.message, /must be a file/)
  const fp = load(base('', ', hostKey: "MD5:aa:bb"'))
  t.deepEqual(fp.issues.map((i) => i.path), ['nodes[0].hostKey'])
  t.regex(fp.issues[0]!.message, /SHA256: and 43 base64 characters/)
  t.deepEqual(load(base('bastion: {host: 10.0.0.9, hostKey: "SHA256:short"}')).issues.map((i) => i.path), ['ssh.bastion.hostKey'])
})

test('config: pins resolved for a node from hostKey and known_hosts (relative to the config file)', (t) => {
  writeFileSync(path.join(dir, 'known_hosts'), `${line('10.0.0.1', B)}\n`)
  const file = path.join(dir, 'cluster.config.yaml')
  const config = parseConfig(base('knownHosts: known_hosts', `, hostKey: "${fingerprint(A)}"`), { file, env: {} }).config
  t.is(config.ssh.knownHosts, path.join(dir, 'known_hosts'))
  t.is(config.nodes[0]!.hostKey, fingerprint(A))
  const pins = hostKeyPinsFor(config, 'nodes[cp]', '10.0.0.1', 22, config.nodes[0]!.hostKey)
  t.deepEqual(pins?.fingerprints, [fingerprint(A), fingerprint(B)])
  t.deepEqual(pins?.sources, [`nodes[cp].hostKey in ${file}`, path.join(dir, 'known_hosts')])
  t.is(hostKeyPinsFor(config, 'nodes[w1]', '10.0.0.2', 22), undefined, 'nothing pins w1: trusted on first use')
})
