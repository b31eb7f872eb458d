// Ctrl-C on the real CLI leaves nothing behind. `up` holding the cluster lock (its preflight stuck
// on an SSH port that accepts and never speaks): SIGINT -> exit 130, the lock gone. `plan` against
// hosts a throwaway sshd serves, stuck resolving binaries from a mirror that never answers while
// its throwaway PKI copy (CA keys) exists: SIGINT -> exit 130, the copy gone. An upload to a node
// (test/helpers/upload-interrupted.ts) interrupted mid-stream: its temp file on the node is removed.
// Everything on loopback; every child stopped by PID, temp dirs removed.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import path from 'node:path'
import { freePort } from '../../scripts/lib/providers/common/process.ts'
import { spawnTracked, until } from '../helpers/child.ts'
import { tempDir } from '../helpers/files.ts'
import { CLI, ROOT } from '../helpers/paths.ts'
import { Sshd, sshdUnavailable } from '../helpers/sshd.ts'

/** A TCP server on 127.0.0.1 that accepts connections and never sends a byte. */
async function silentServer(t: { teardown: (fn: () => void) => void }): Promise<number> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  const server: Server = createServer((s) => { sockets.add(s); s.on('error', () => {}) })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return port
}

/** The CLI as a child (so the test can signal it). */
const spawnCli = (t: { teardown: (fn: () => void) => void }, args: string[], env: Record<string, string>) => spawnTracked(t, process.execPath, [CLI, ...args], {
  cwd: ROOT,
  env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', CI: '1', KUBELAB_EGRESS: 'off', ...env },
})

function config(dir: string, o: { port: number; key: string; mirror?: string }): string {
  const file = path.join(dir, 'cluster.config.yaml')
  writeFileSync(file, `name: intr
provider: {type: ssh}
ssh: {user: root, port: ${o.port}, keyFile: ${o.key}}
${o.mirror ? `artifacts: {source: mirror, mirror: "${o.mirror}"}\n` : ''}nodes:
  - {name: cp, role: control-plane, address: 127.0.0.1}
  - {name: w1, role: worker, address: 127.0.0.2}
`)
  return file
}

test('Ctrl-C during up: exit 130 and the cluster lock is gone', async (t) => {
  t.timeout(60_000)
  const dir = await tempDir(t, 'kubelab-intr-')
  const port = await silentServer(t)
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'key')])
  const state = path.join(dir, 'state')
  const cli = spawnCli(t, ['up', '-c', config(dir, { port, key: path.join(dir, 'key') })], { KUBELAB_STATE: state, KUBELAB_CACHE: path.join(dir, 'cache') })
  const lock = path.join(state, 'intr.lock')
  await until('the cluster lock', () => existsSync(lock), 30_000, cli.stderr)
  cli.child.kill('SIGINT')
  t.is(await cli.exited, 130, cli.stderr())
  t.regex(cli.stderr(), /interrupted \(SIGINT\): cleaning up/)
  t.false(existsSync(lock), 'lock removed')
  t.deepEqual(readdirSync(state).filter((f) => f.includes('lock')), [])
})

const withSshd = sshdUnavailable() ? test.skip : test

withSshd('Ctrl-C during plan: exit 130 and the throwaway PKI copy (CA keys) is gone from the temp dir', async (t) => {
  t.timeout(120_000)
  const dir = await tempDir(t, 'kubelab-intr-')
  // The live checks stall on the "nodes": their sessions find a systemctl that only sleeps. plan
  // makes its PKI copy just before those checks (and only when the cache holds everything: the
  // host's own cache, read-only, as `plan` never builds).
  const shims = path.join(dir, 'shims')
  mkdirSync(shims)
  writeFileSync(path.join(shims, 'systemctl'), '#!/bin/sh\nexec sleep 60\n', { mode: 0o755 })
  const sshd = await Sshd.start({ extraConfig: `ListenAddress 127.0.0.2\nSetEnv PATH=${shims}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` })
  t.teardown(() => sshd.dispose())
  const state = path.join(dir, 'state')
  // A cluster kubelab knows (both hosts recorded) with a PKI store holding a CA key.
  mkdirSync(path.join(state, 'intr', 'pki'), { recursive: true })
  writeFileSync(path.join(state, 'intr', 'pki', 'ca.key'), '-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n', { mode: 0o600 })
  const record = (address: string, role: string) => ({ address, role, pids: {}, forwards: {}, createdAt: new Date().toISOString() })
  writeFileSync(path.join(state, 'intr', 'state.json'), JSON.stringify({ cluster: 'intr', provider: 'ssh', machines: { cp: record('127.0.0.1', 'control-plane'), w1: record('127.0.0.2', 'worker') } }))
  const tmp = path.join(dir, 'tmp')
  mkdirSync(tmp)
  const cli = spawnCli(t, ['plan', '-c', config(dir, { port: sshd.port, key: sshd.clientKey })], { KUBELAB_STATE: state, TMPDIR: tmp })
  const copies = () => readdirSync(tmp).filter((f) => f.startsWith('kubelab-plan-'))
  await until('the PKI copy in the temp dir', () => copies().some((c) => existsSync(path.join(tmp, c, 'pki', 'ca.key'))), 90_000, cli.stderr)
  cli.child.kill('SIGINT')
  t.is(await cli.exited, 130, cli.stderr())
  t.deepEqual(copies(), [], 'no kubelab-plan-* copy left')
  t.true(existsSync(path.join(state, 'intr', 'pki', 'ca.key')), 'the real store is untouched')
})

withSshd('Ctrl-C during an upload: the temp file on the node is removed', async (t) => {
  t.timeout(120_000)
  const dir = await tempDir(t, 'kubelab-intr-')
  const sshd = await Sshd.start()
  t.teardown(() => sshd.dispose())
  const local = path.join(dir, 'big')
  writeFileSync(local, '')
  truncateSync(local, 2 * 1024 ** 3) // sparse: streams for seconds, costs no disk here
  const remoteDir = path.join(dir, 'node')
  const up = spawnTracked(t, process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/upload-interrupted.ts'), String(sshd.port), sshd.clientKey, local, path.join(remoteDir, 'big')], { cwd: ROOT })
  const out = () => up.stdout() + up.stderr()
  const temps = () => (existsSync(remoteDir) ? readdirSync(remoteDir).filter((f) => f.startsWith('.kubelab-upload.')) : [])
  await until('the upload streaming into its temp file', () => temps().some((f) => statSync(path.join(remoteDir, f)).size > 1 << 20), 90_000, out)
  up.child.kill('SIGINT')
  t.is(await up.exited, 130, out())
  t.false(up.stdout().includes('done'))
  t.deepEqual(temps(), [], 'no temp file left on the node')
  t.false(existsSync(path.join(remoteDir, 'big')))
})
