// Integration tests of scripts/lib/remote against a real OpenSSH server (test/helpers/sshd.ts):
// commands, quoting, sudo, files, uploads, every connection failure, reconnects and parallelism.
// Needs root and the Debian packages openssh-server and sudo.

import test, { type ExecutionContext } from 'ava'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CommandError } from '../../scripts/lib/errors.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import {
  CommandTimeoutError,
  JsonFileHostKeyStore,
  MemoryHostKeyStore,
  SshRunner,
  SshError,
  uploadAll,
  type HostKeyStore,
  type RunnerOptions,
  type SshTarget,
} from '../../scripts/lib/remote/index.ts'
import { NOSUDO_USER, SUDO_USER, Sshd, freePort, sshdUnavailable } from '../helpers/sshd.ts'
import { randomFile } from '../helpers/files.ts'

const unavailable = sshdUnavailable()
const maybe = unavailable ? test.skip : test
const serial = unavailable ? test.skip : test.serial
if (unavailable) test('remote integration tests', (t) => t.log(`skipped: ${unavailable}`) ?? t.pass())

let sshd: Sshd
const local = mkdtempSync(join(tmpdir(), 'kubelab-remote-test-'))

test.before(async () => {
  if (!unavailable) sshd = await Sshd.start()
})
test.after.always(async () => {
  await sshd?.dispose()
  rmSync(local, { recursive: true, force: true })
})

let seq = 0
function target(user: string, server = sshd, auth: SshTarget['auth'] = { privateKeyPath: server.clientKey, agent: false }): SshTarget {
  return { host: server.host, port: server.port, user, auth }
}

function runner(t: ExecutionContext, user = 'root', extra: Partial<RunnerOptions> = {}, server = sshd): SshRunner {
  const r = new SshRunner({
    node: extra.node ?? `node-${++seq}`,
    target: extra.target ?? target(user, server),
    hostKeys: extra.hostKeys ?? new MemoryHostKeyStore(),
    connect: { deadlineMs: 10_000, ...extra.connect },
    ...extra,
  })
  t.teardown(() => r.close())
  return r
}

maybe('exit codes, stdout and stderr are kept; set -euo pipefail applies', async (t) => {
  const r = runner(t)
  const ok = await r.$`echo out; echo err >&2`
  t.is(ok.exitCode, 0)
  t.is(ok.stdout, 'out\n')
  t.is(ok.stderr, 'err\n')
  t.is(ok.node, r.node)
  t.is(ok.command, 'echo out; echo err >&2')
  t.true(ok.durationMs >= 0)

  const err = await t.throwsAsync(r.$`echo partial; echo boom >&2; exit 3`, { instanceOf: CommandError, code: 'ERR_COMMAND' })
  t.is(err.result.exitCode, 3)
  t.is(err.result.stdout, 'partial\n')
  t.is(err.result.stderr, 'boom\n')
  t.is(err.result.node, r.node)

  t.is((await r.$({ nothrow: true })`false; echo not reached`).exitCode, 1) // -e
  t.is((await r.$({ nothrow: true })`false | true`).exitCode, 1) // pipefail
  const unset = await r.$({ nothrow: true })`echo "$KUBELAB_SURELY_UNSET"`
  t.is(unset.exitCode, 1) // -u
  t.regex(unset.stderr, /unbound variable/)
  // Output without a trailing newline and empty output are exact.
  t.is((await r.$`printf abc`).stdout, 'abc')
  t.is((await r.$`true`).stdout, '')
  // The script never sees the session's stdin.
  t.is((await r.$`cat; echo done`).stdout, 'done\n')
})

maybe('test(): exit 0 is true, 1 false, anything else an error', async (t) => {
  const r = runner(t)
  t.true(await r.test`test -d /`)
  t.false(await r.test`test -d /kubelab-does-not-exist`)
  const e = await t.throwsAsync(r.test`exit 7`, { instanceOf: CommandError, code: 'ERR_COMMAND' })
  t.is(e.result.exitCode, 7)
})

maybe('awkward arguments round-trip through printf %s', async (t) => {
  const r = runner(t)
  const values = [
    'plain',
    'with space',
    "single'quote",
    'double"quote',
    '$HOME and $(id) and `id`',
    'back\\slash\\',
    'line1\nline2\n',
    'tab\there\r\n',
    'ünïcödé ✓ 日本語 🚀',
    '',
    '*',
    '-n',
    '--',
    '; rm -rf / #',
    '!bang',
    '~',
  ]
  for (const v of values) t.is((await r.$`printf %s ${v}`).stdout, v, JSON.stringify(v))
  // Arrays become one word per element.
  const out = await r.$`printf '%s\\0' ${values}`
  t.deepEqual(out.stdout.split('\0').slice(0, -1), values)
  t.is((await r.$`set -- ${values}; echo $#`).stdout, `${values.length}\n`)
  // Numbers, and a previous result (its stdout, final newline trimmed).
  const prev = await r.$`echo 'a b'`
  t.is((await r.$`printf %s ${prev} ${42}`).stdout, 'a b42')
})

maybe('sudo -n is refused fast for a user without sudo, with a hint', async (t) => {
  const r = runner(t, NOSUDO_USER)
  t.true(r.sudo)
  const t0 = Date.now()
  const e = await t.throwsAsync(r.$`id -u`, { instanceOf: CommandError, code: 'ERR_COMMAND' })
  const took = Date.now() - t0
  t.true(took < 2000, `took ${took}ms`)
  t.regex(e.result.stderr, /sudo/)
  t.regex(e.hint ?? '', /passwordless sudo/)
  // Without sudo the same user runs commands fine.
  t.is((await r.$({ sudo: false })`id -un`).stdout, `${NOSUDO_USER}\n`)
})

maybe('sudo works for the sudo user; root needs no sudo', async (t) => {
  const r = runner(t, SUDO_USER)
  t.true(r.sudo)
  t.is((await r.$`id -u`).stdout, '0\n')
  t.is((await r.$({ sudo: false })`id -un`).stdout, `${SUDO_USER}\n`)
  const root = runner(t, 'root')
  t.false(root.sudo)
  t.is((await root.$`id -u`).stdout, '0\n')
})

maybe('writeFile: atomic, parent dirs, modes, owners, binary and large content', async (t) => {
  const r = runner(t, SUDO_USER)
  const dir = `/tmp/kubelab-wf-${randomBytes(4).toString('hex')}`
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await r.writeFile(`${dir}/a/b/c.conf`, 'hello\nworld\n', 0o640, `${NOSUDO_USER}:${NOSUDO_USER}`)
  t.is((await r.$`stat -c '%a %U %G' ${dir}/a/b/c.conf`).stdout, `640 ${NOSUDO_USER} ${NOSUDO_USER}\n`)
  t.is(readFileSync(`${dir}/a/b/c.conf`, 'utf8'), 'hello\nworld\n')
  // Overwrite with a different mode; default owner is the sudo target (root).
  await r.writeFile(`${dir}/a/b/c.conf`, 'second', 0o600)
  t.is((await r.$`stat -c '%a %U' ${dir}/a/b/c.conf; cat ${dir}/a/b/c.conf`).stdout, '600 root\nsecond')
  // Awkward names and binary content.
  const bin = randomBytes(4096)
  const name = `${dir}/we ird 'name' $x.bin`
  await r.writeFile(name, bin, 0o755)
  t.deepEqual(readFileSync(name), bin)
  t.is((await r.$`stat -c %a ${name}`).stdout, '755\n')
  // Empty and large (streamed) content.
  await r.writeFile(`${dir}/empty`, '', 0o644)
  t.is(readFileSync(`${dir}/empty`).length, 0)
  const big = randomBytes(300 * 1024)
  await r.writeFile(`${dir}/big`, big, 0o600, SUDO_USER)
  t.deepEqual(readFileSync(`${dir}/big`), big)
  t.is((await r.$`stat -c '%a %U' ${dir}/big`).stdout, `600 ${SUDO_USER}\n`)
  // No temp files left behind.
  t.is((await r.$`find ${dir} -name '.kubelab*' | wc -l`).stdout.trim(), '0')
})

maybe('writeFiles: many small files in one batch, each atomic with its mode; large ones streamed', async (t) => {
  const r = runner(t, SUDO_USER)
  const dir = `/tmp/kubelab-wfs-${randomBytes(4).toString('hex')}`
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const files = Array.from({ length: 30 }, (_, i) => ({ path: `${dir}/d${i % 3}/f ${i}.pem`, content: `file ${i}\n`.repeat(40), mode: i % 2 ? 0o600 : 0o644 }))
  const big = { path: `${dir}/big.bin`, content: randomBytes(200 * 1024), mode: 0o640 }
  await r.writeFiles([...files, big])
  for (const f of files) t.is(readFileSync(f.path, 'utf8'), f.content)
  t.deepEqual(readFileSync(big.path), big.content)
  t.is((await r.$`stat -c %a ${files[1]!.path} ${files[2]!.path} ${big.path}`).stdout, '600\n644\n640\n')
  t.is((await r.$`find ${dir} -name '.kubelab*' | wc -l`).stdout.trim(), '0')
})

maybe('upload: 100 MB streamed and verified, skipped by checksum, corrupted file re-sent, bad checksum refused', async (t) => {
  const file = join(local, 'big.bin')
  const sha = await randomFile(file, 100)
  t.teardown(() => rmSync(file, { force: true }))
  const r = runner(t, SUDO_USER)
  const dir = `/tmp/kubelab-up-${randomBytes(4).toString('hex')}`
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const dest = `${dir}/bin/blob`

  let t0 = performance.now()
  t.is(await r.upload(file, dest, sha, { mode: 0o755, owner: SUDO_USER }), 'sent')
  t.log(`100 MB upload: ${Math.round(performance.now() - t0)}ms`)
  t.is((await r.$`sha256sum ${dest} | cut -d' ' -f1; stat -c '%a %U' ${dest}`).stdout, `${sha}\n755 ${SUDO_USER}\n`)

  t0 = performance.now()
  t.is(await r.upload(file, dest, sha, { mode: 0o755, owner: SUDO_USER }), 'skipped')
  t.log(`skip check: ${Math.round(performance.now() - t0)}ms`)

  await r.$`printf XYZ | dd of=${dest} bs=1 seek=1000 conv=notrunc status=none`
  t.not((await r.$`sha256sum ${dest} | cut -d' ' -f1`).stdout.trim(), sha)
  t.is(await r.upload(file, dest, sha.toUpperCase(), { mode: 0o755 }), 'sent')
  t.is((await r.$`sha256sum ${dest} | cut -d' ' -f1`).stdout.trim(), sha)

  // A checksum the file does not have: a clear error, the old file untouched, no temp file left.
  const wrong = 'f'.repeat(64)
  const e = await t.throwsAsync(r.upload(file, dest, wrong), { instanceOf: SshError, code: 'ERR_SSH' })
  t.is(e.reason, 'UPLOAD_VERIFY_FAILED')
  t.true(e.message.includes(wrong) && e.message.includes(sha), e.message)
  t.is((await r.$`sha256sum ${dest} | cut -d' ' -f1`).stdout.trim(), sha)
  t.is((await r.$`ls -A ${dir}/bin`).stdout, 'blob\n')
})

maybe('uploadAll: parallel uploads across nodes with a concurrency limit', async (t) => {
  const file = join(local, 'small.bin')
  const sha = await randomFile(file, 2)
  const dir = `/tmp/kubelab-ua-${randomBytes(4).toString('hex')}`
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const runners = [0, 1, 2, 3].map(() => runner(t, SUDO_USER))
  const jobs = runners.map((r, i) => ({ runner: r, localFile: file, remotePath: `${dir}/${i}/f`, sha256: sha }))
  t.deepEqual(await uploadAll(jobs, 2), ['sent', 'sent', 'sent', 'sent'])
  t.deepEqual(await uploadAll(jobs, 2), ['skipped', 'skipped', 'skipped', 'skipped'])
})

maybe('connection refused: a clear SshError after the deadline', async (t) => {
  const port = await freePort()
  const r = runner(t, 'root', {
    target: { host: '127.0.0.1', port, user: 'root', auth: { privateKeyPath: sshd.clientKey, agent: false } },
    connect: { deadlineMs: 1500 },
  })
  const t0 = Date.now()
  const e = await t.throwsAsync(r.$`true`, { instanceOf: SshError, code: 'ERR_SSH' })
  t.is(e.reason, 'CONNECTION_REFUSED')
  t.true(e.message.includes(r.node) && e.message.includes(String(port)), e.message)
  t.true(Date.now() - t0 < 5000)
})

maybe('wrong key: authentication failure, not retried', async (t) => {
  const r = runner(t, 'root', { target: target('root', sshd, { privateKeyPath: sshd.wrongKey, agent: false }) })
  const t0 = Date.now()
  const e = await t.throwsAsync(r.$`true`, { instanceOf: SshError, code: 'ERR_SSH' })
  t.is(e.reason, 'AUTH_FAILED')
  t.regex(e.message, /authentication failed/)
  t.regex(e.hint ?? '', /authorized_keys/)
  t.true(Date.now() - t0 < 3000)
})

maybe('unknown user: authentication failure naming the user', async (t) => {
  const r = runner(t, 'kubelab-nobody')
  const e = await t.throwsAsync(r.$`true`, { instanceOf: SshError, code: 'ERR_SSH' })
  t.is(e.reason, 'AUTH_FAILED')
  t.true(e.message.includes('kubelab-nobody'), e.message)
  t.regex(e.hint ?? '', /exists/)
})

maybe('missing key file: a clear error before connecting', async (t) => {
  const r = runner(t, 'root', { target: target('root', sshd, { privateKeyPath: join(local, 'nope'), agent: false }) })
  const e = await t.throwsAsync(r.$`true`, { instanceOf: SshError, code: 'ERR_SSH' })
  t.is(e.reason, 'BAD_TARGET')
})

maybe('a private key given as text (from .env) works', async (t) => {
  const r = runner(t, 'root', { target: target('root', sshd, { privateKey: readFileSync(sshd.clientKey, 'utf8'), agent: false }) })
  t.is((await r.$`echo ok`).stdout, 'ok\n')
})

maybe('bastion: ProxyJump through a jump host', async (t) => {
  const bastion = { ...target(SUDO_USER), name: 'jump' }
  const hostKeys = new MemoryHostKeyStore()
  const r = runner(t, 'root', { target: { ...target('root'), bastion }, hostKeys })
  t.is((await r.$`echo "$SSH_CLIENT" | cut -d' ' -f1`).stdout, '127.0.0.1\n')
  t.truthy(await hostKeys.get('jump'))
  t.is(await hostKeys.get(r.node), await hostKeys.get('jump')) // same server, same key
})

serial('changed host key: refused with both fingerprints and how to reset', async (t) => {
  const server = await Sshd.start()
  t.teardown(() => server.dispose())
  const file = join(local, 'state', 'known_hosts.json')
  const store: HostKeyStore = new JsonFileHostKeyStore(file)
  const first = runner(t, 'root', { node: 'worker-1', hostKeys: store }, server)
  await first.$`true`
  const old = server.hostFingerprint()
  t.is(await store.get('worker-1'), old)
  t.is(JSON.parse(readFileSync(file, 'utf8')).hosts['worker-1'].fingerprint, old)
  first.close()

  await server.restart({ newHostKey: true })
  const fresh = server.hostFingerprint()
  t.not(fresh, old)
  const again = runner(t, 'root', { node: 'worker-1', hostKeys: new JsonFileHostKeyStore(file) }, server)
  const e = await t.throwsAsync(again.$`true`, { instanceOf: SshError, code: 'ERR_SSH' })
  t.is(e.reason, 'HOST_KEY_CHANGED')
  for (const s of ['worker-1', old, fresh]) t.true(e.message.includes(s), `${s} in ${e.message}`)
  t.true((e.hint ?? '').includes('kubelab ssh-reset worker-1') && (e.hint ?? '').includes(file), e.hint)

  // After a reset the new key is pinned on first contact.
  await store.delete('worker-1')
  const reset = runner(t, 'root', { node: 'worker-1', hostKeys: store }, server)
  await reset.$`true`
  t.is(await store.get('worker-1'), fresh)
})

maybe('command timeout kills the remote process and the session stays usable', async (t) => {
  const r = runner(t, SUDO_USER, { maxSessions: 1 })
  const pidFile = `/tmp/kubelab-timeout-${randomBytes(4).toString('hex')}`
  t.teardown(() => rmSync(pidFile, { force: true }))
  const t0 = Date.now()
  const e = await t.throwsAsync(r.$({ timeoutMs: 1000 })`sleep 30 & echo $! > ${pidFile}; wait`, {
    instanceOf: CommandTimeoutError,
    code: 'ERR_COMMAND',
  })
  t.true(Date.now() - t0 < 4000, `took ${Date.now() - t0}ms`)
  t.regex(e.message, /timed out after 1s/)
  const pid = readFileSync(pidFile, 'utf8').trim()
  // Gone, or a zombie waiting for a reaper (this container's PID 1 does not reap): not running.
  const state = (await r.$`cut -d' ' -f3 /proc/${pid}/stat 2>/dev/null || echo gone`).stdout.trim()
  t.true(state === 'gone' || state === 'Z', `the background sleep is ${state}`)
  t.is((await r.$`echo still here`).stdout, 'still here\n')
})

serial('sshd restarted mid-session: the next command reconnects', async (t) => {
  const server = await Sshd.start()
  t.teardown(() => server.dispose())
  const r = runner(t, SUDO_USER, {}, server)
  t.is((await r.$`echo one`).stdout, 'one\n')
  await server.stop() // kills the listener and the session processes
  const restarted = (async () => {
    await new Promise((res) => setTimeout(res, 300))
    await server.restart()
  })()
  // Issued while sshd is down: connect retries until it is back.
  const [two] = await Promise.all([r.$`echo two`, restarted])
  t.is(two.stdout, 'two\n')
  t.is((await r.$`echo three`).stdout, 'three\n')
})

maybe('16 commands in parallel on 8 connections', async (t) => {
  const runners = Array.from({ length: 8 }, () => runner(t, SUDO_USER))
  await Promise.all(runners.map((r) => r.$`true`)) // connect first
  const t0 = Date.now()
  const results = await Promise.all(Array.from({ length: 16 }, (_, i) => runners[i % 8]!.$`sleep 0.5; echo ${i}`))
  const took = Date.now() - t0
  t.deepEqual(
    results.map((r) => r.stdout),
    Array.from({ length: 16 }, (_, i) => `${i}\n`),
  )
  t.true(took < 3000, `16 x 0.5 s took ${took}ms`) // serial would be 8 s
})

maybe('scripts too big for the framed session go through bash -s', async (t) => {
  const r = runner(t, SUDO_USER)
  const filler = `# ${'x'.repeat(200)}\n`.repeat(600) // ~120 KiB
  const res = await r.run(`${filler}id -u\necho "$0" >&2`)
  t.is(res.stdout, '0\n')
})

maybe('streamed output reaches Progress at verbosity 3', async (t) => {
  const lines: string[] = []
  const progress = new Progress({ verbosity: 3, sink: { write: (s: string) => lines.push(s) }, interactive: false })
  const r = runner(t, 'root', { progress, node: 'streamer' })
  await r.$`echo first; echo second >&2; printf third`
  const text = lines.join('')
  for (const s of ['[streamer] $ echo first', '[streamer] first', '[streamer] ! second', '[streamer] third']) t.true(text.includes(s), `${s} in ${text}`)
})
