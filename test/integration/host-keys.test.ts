// Host keys against a real throwaway sshd on loopback: trusted on first use with one line on stderr
// (node, key type, fingerprint), or pinned by the config (nodes[].hostKey, ssh.bastion.hostKey,
// ssh.knownHosts in OpenSSH format, hashed names and @revoked too); a key the config does not pin
// is refused, naming both fingerprints, and nothing is changed in the state.
import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../scripts/lib/config/load.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import type { Machine } from '../../scripts/lib/providers/types.ts'
import { SshError } from '../../scripts/lib/remote/errors.ts'
import { runnerFor } from '../../scripts/lib/remote/machine.ts'
import { kubelab } from '../helpers/cli.ts'
import { Sshd, sshdUnavailable } from '../helpers/sshd.ts'

const unavailable = sshdUnavailable()
let sshd: Sshd
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-hostkeys-'))
test.before(async () => {
  if (!unavailable) sshd = await Sshd.start()
})
test.after.always(async () => {
  await sshd?.dispose()
  rmSync(work, { recursive: true, force: true })
})
const it = unavailable ? test.skip : test.serial

/** A config whose control-plane node is this sshd (the worker is never dialled here), with extra `ssh:` lines and node fields; its own state dir. */
function setup(t: ExecutionContext, extra: { ssh?: string; node?: string } = {}) {
  const dir = mkdtempSync(path.join(work, 'case-'))
  const file = path.join(dir, 'cluster.config.yaml')
  writeFileSync(file, `name: hostkeys
provider: {type: ssh}
ssh: {user: root, port: ${sshd.port}, keyFile: ${sshd.clientKey}${extra.ssh ? `, ${extra.ssh}` : ''}}
nodes:
  - {name: cp, role: control-plane, address: 127.0.0.1${extra.node ? `, ${extra.node}` : ''}}
  - {name: w1, role: worker, address: 127.0.0.2}
`)
  const config = loadConfig(file, { env: {} }).config
  const logs: string[] = []
  const progress = new Progress({ sink: { write: (s: string) => logs.push(s) }, interactive: false })
  const stateDir = path.join(dir, 'state')
  const machine: Machine = { name: 'cp', role: 'control-plane', address: '127.0.0.1', state: 'running', provider: 'ssh', ssh: { host: '127.0.0.1', port: sshd.port, user: 'root' }, forwards: {} }
  const pins = path.join(stateDir, 'ssh', 'host-keys.json')
  const run = async () => {
    const r = await runnerFor(machine, stateDir, { config, progress, connect: { deadlineMs: 5_000 } })
    try {
      return (await r.$`echo ok`).stdout.trim()
    } finally {
      r.close()
    }
  }
  return { dir, file, logs, run, pins }
}

const hostPub = () => readFileSync(`${sshd.hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')
const otherKey = () => {
  const k = path.join(mkdtempSync(path.join(work, 'other-')), 'k')
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', k])
  return { line: readFileSync(`${k}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' '), fp: execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${k}.pub`], { encoding: 'utf8' }).split(' ')[1]! }
}

it('first contact: trusted on first use, said in one line naming node, key type and fingerprint; not again', async (t) => {
  const c = setup(t)
  t.is(await c.run(), 'ok')
  const said = c.logs.join('').split('\n').filter((l) => /first use/.test(l))
  t.is(said.length, 1, c.logs.join(''))
  t.true(said[0]!.includes(`cp: trusting its SSH host key on first use: ssh-ed25519 ${sshd.hostFingerprint()}`), said[0])
  c.logs.length = 0
  t.is(await c.run(), 'ok')
  t.deepEqual(c.logs.filter((l) => /first use/.test(l)), [], 'the pin is kept: nothing said the second time')
})

it('first contact through the CLI: the line is on stderr', async (t) => {
  const c = setup(t)
  const r = await kubelab(['doctor', '-c', c.file], { env: { KUBELAB_STATE: path.join(c.dir, 'cli-state'), KUBELAB_EGRESS: 'off' } })
  t.regex(r.stderr, new RegExp(`cp: trusting its SSH host key on first use: ssh-ed25519 ${sshd.hostFingerprint().replace(/[+/]/g, '\\$&')}`))
  t.notRegex(r.stdout, /first use/)
})

it('nodes[].hostKey: the pinned key connects silently; another is refused naming both, and nothing is written', async (t) => {
  const good = setup(t, { node: `hostKey: "${sshd.hostFingerprint()}"` })
  t.is(await good.run(), 'ok')
  t.deepEqual(good.logs.filter((l) => /first use/.test(l)), [])
  const other = otherKey()
  const bad = setup(t, { node: `hostKey: "${other.fp}"` })
  const err = await t.throwsAsync(bad.run(), { instanceOf: SshError })
  t.is(err!.reason, 'HOST_KEY_CHANGED')
  t.true(err!.message.includes(`pinned ${other.fp}, server offered ssh-ed25519 ${sshd.hostFingerprint()}`), err!.message)
  t.regex(err!.message, /nodes\[cp\]\.hostKey in .*cluster\.config\.yaml/)
  t.regex(err!.message, /nothing was changed/)
  t.false(existsSync(bad.pins), 'no first-use pin written')
})

it('a config pin overrides an old first-use pin (a re-created machine pinned anew in the config)', async (t) => {
  const c = setup(t, { node: `hostKey: "${sshd.hostFingerprint()}"` })
  const { mkdirSync } = await import('node:fs')
  mkdirSync(path.dirname(c.pins), { recursive: true })
  writeFileSync(c.pins, JSON.stringify({ version: 1, hosts: { cp: { fingerprint: otherKey().fp, added: 'x' } } }))
  t.is(await c.run(), 'ok')
  t.is(JSON.parse(readFileSync(c.pins, 'utf8')).hosts.cp.fingerprint, sshd.hostFingerprint())
})

it('ssh.knownHosts: [host]:port and hashed entries pin; another key for the host, or a revoked one, is refused', async (t) => {
  const name = `[127.0.0.1]:${sshd.port}`
  const salt = randomBytes(20)
  const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`
  const other = otherKey()
  const write = (text: string) => {
    const f = path.join(mkdtempSync(path.join(work, 'kh-')), 'known_hosts')
    writeFileSync(f, text)
    return f
  }
  for (const text of [`# comment\n${name} ${hostPub()}\n`, `${hashed} ${hostPub()}\n`, `127.0.0.1,${name} ${hostPub()} comment\n`]) {
    const c = setup(t, { ssh: `knownHosts: ${write(text)}` })
    t.is(await c.run(), 'ok', text)
    t.deepEqual(c.logs.filter((l) => /first use/.test(l)), [], text)
  }
  const wrongFile = write(`${name} ${other.line}\n127.0.0.9 ${hostPub()}\n`)
  const wrong = setup(t, { ssh: `knownHosts: ${wrongFile}` })
  const err = await t.throwsAsync(wrong.run(), { instanceOf: SshError })
  t.true(err!.message.includes(`not the one pinned in ${wrongFile}: pinned ${other.fp}, server offered ssh-ed25519 ${sshd.hostFingerprint()}`), err!.message)
  t.false(existsSync(wrong.pins))
  const revoked = setup(t, { ssh: `knownHosts: ${write(`@revoked * ${hostPub()}\n`)}` })
  const r = await t.throwsAsync(revoked.run(), { instanceOf: SshError })
  t.regex(r!.message, /is revoked in .*known_hosts: ssh-ed25519 SHA256:/)
  // Not listed for this host at all (only port 22 is): trusted on first use, and said so.
  const unlisted = setup(t, { ssh: `knownHosts: ${write(`127.0.0.1 ${other.line}\n`)}` })
  t.is(await unlisted.run(), 'ok')
  t.is(unlisted.logs.filter((l) => /first use/.test(l)).length, 1)
})

it('the bastion: first use said under its name; its hostKey pin is enforced', async (t) => {
  const bastion = (extra = '') => `bastion: {host: 127.0.0.1, port: ${sshd.port}${extra}}`
  const c = setup(t, { ssh: bastion() })
  t.is(await c.run(), 'ok')
  t.true(c.logs.some((l) => l.includes(`bastion:127.0.0.1:${sshd.port}: trusting its SSH host key on first use: ssh-ed25519 ${sshd.hostFingerprint()}`)), c.logs.join(''))
  const other = otherKey()
  const bad = setup(t, { ssh: bastion(`, hostKey: "${other.fp}"`) })
  const err = await t.throwsAsync(bad.run(), { instanceOf: SshError })
  t.regex(err!.message, new RegExp(`host key of bastion:127\\.0\\.0\\.1:${sshd.port} .*ssh\\.bastion\\.hostKey`))
  t.false(existsSync(bad.pins))
})
