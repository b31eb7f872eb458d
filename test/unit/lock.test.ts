// File locks in one process: a live holder refuses with who holds it, a stale one is taken over,
// and release never removes a lock that is no longer ours (races between processes:
// test/integration/races.test.ts).
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { LockedError } from '../../scripts/lib/errors.ts'
import { withFileLock } from '../../scripts/lib/providers/common/lock.ts'
import { tempDir } from '../helpers/files.ts'

const opts = { wait: false, what: 'kubelab up (cluster t)' }

test('a live holder refuses with its PID and purpose; the lock stays', async (t) => {
  const lock = path.join(await tempDir(t), 't.lock')
  writeFileSync(lock, JSON.stringify({ pid: process.pid, what: 'kubelab down (cluster t)', nonce: 'x' }))
  const e = await t.throwsAsync(withFileLock(lock, opts, async () => 1), { instanceOf: LockedError, code: 'ERR_LOCKED' })
  t.regex(e?.message ?? '', new RegExp(`kubelab down \\(cluster t\\) \\(PID ${process.pid}\\)`))
  t.true(existsSync(lock))
})

test('a stale lock (old format too) is taken over, held whole while fn runs, removed after', async (t) => {
  const dir = await tempDir(t)
  const lock = path.join(dir, 't.lock')
  for (const stale of [{ pid: spawnSync('true').pid, what: 'x', nonce: 'n' }, { pid: spawnSync('true').pid, what: 'x' }]) {
    writeFileSync(lock, JSON.stringify(stale))
    const held = await withFileLock(lock, opts, async () => JSON.parse(readFileSync(lock, 'utf8')) as { pid: number; what: string })
    t.is(held.pid, process.pid)
    t.is(held.what, opts.what)
    t.deepEqual(readdirSync(dir), [])
  }
})

test('release leaves a lock that another process holds by now', async (t) => {
  const dir = await tempDir(t)
  const lock = path.join(dir, 't.lock')
  const other = JSON.stringify({ pid: process.pid, what: 'someone else', nonce: 'theirs' })
  await withFileLock(lock, opts, async () => {
    writeFileSync(lock, other) // e.g. this lock was judged stale and taken over
  })
  t.is(readFileSync(lock, 'utf8'), other)
})

test('a lock with no owner in it: held while fresh (being written), stale after a minute', async (t) => {
  const dir = await tempDir(t)
  const lock = path.join(dir, 't.lock')
  writeFileSync(lock, '')
  await t.throwsAsync(withFileLock(lock, opts, async () => 1), { instanceOf: LockedError })
  const old = new Date(Date.now() - 120_000)
  utimesSync(lock, old, old)
  t.is(await withFileLock(lock, opts, async () => 2), 2)
  t.deepEqual(readdirSync(dir), [])
})
