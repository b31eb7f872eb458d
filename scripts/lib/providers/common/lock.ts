// File locks between kubelab processes: the cluster lock (a second `up`/`down` on the same
// cluster is refused) and build locks (a second build of the same cache entry waits).
//
// A lock file holds its owner's PID, what it is doing and a nonce unique to this acquisition. It
// appears whole: written to a temp file, then hard-linked into place (link(2) fails when the lock
// exists, so of any number of creators exactly one wins, and nobody reads a half-written lock).
// A lock whose PID is gone is stale. Taking it over needs the claim `<lock>.takeover-<nonce>`
// (O_EXCL: one claimant per stale lock); the claimant removes the lock only if it still holds that
// nonce, and then every contender creates again through link(2). Nobody else can remove a lock
// with that nonce meanwhile, so a takeover never removes the lock a live process just took.
// Release removes the lock only while it is still ours, also when the process is interrupted.

import { randomBytes } from 'node:crypto'
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { LockedError } from '../../errors.ts'
import { pidAlive } from '../../host/files.ts'
import { onInterrupt } from '../../host/interrupt.ts'

export interface LockOptions {
  /** Wait for the holder instead of failing at once. */
  wait: boolean
  /** What the holder is doing, shown to whoever finds the lock taken. */
  what: string
  /** How long to wait at most (ms). */
  timeoutMs?: number
  /** Told once, when the lock is taken and this call starts waiting: who holds it. */
  onWait?: (holder: string) => void
}

interface Holder {
  pid?: number
  what?: string
  nonce?: string
}

/** A claim whose claimant died this long ago (it crashed inside a takeover) is removed. */
const STALE_CLAIM_MS = 10_000
/** A lock file without a PID in it counts as stale this long after it was written. */
const OWNERLESS_STALE_MS = 60_000

const unlinkQuiet = (file: string) => {
  try { unlinkSync(file) } catch { /* gone already */ }
}

/** The lock as it is now: its holder and an identity for takeover; undefined when there is none. */
function readLock(file: string): { holder: Holder; id: string; stale: boolean } | undefined {
  let text: string
  let st: ReturnType<typeof statSync>
  try {
    st = statSync(file)
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let holder: Holder = {}
  try { holder = JSON.parse(text) as Holder } catch { /* written by hand or by an old kubelab */ }
  // Locks of older kubelab versions have no nonce: their inode and change time identify them.
  const id = typeof holder.nonce === 'string' ? holder.nonce : `ino-${st.ino}-${st.ctimeMs}`
  // A lock with no owner in it (an old kubelab killed while writing it) is stale once it is old.
  const ownerless = typeof holder.pid !== 'number' && Date.now() - st.mtimeMs > OWNERLESS_STALE_MS
  return { holder, id, stale: ownerless || (typeof holder.pid === 'number' && holder.pid > 0 && !pidAlive(holder.pid)) }
}

/** Creates the lock whole, or returns false when one exists. */
function create(file: string, me: Required<Holder>): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(tmp, JSON.stringify({ ...me, since: new Date().toISOString() }), { mode: 0o644, flag: 'wx' })
  try {
    linkSync(tmp, file)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err
    return createExclusive(file, me) // a filesystem without hard links
  } finally {
    unlinkQuiet(tmp)
  }
}

function createExclusive(file: string, me: Required<Holder>): boolean {
  try {
    writeFileSync(file, JSON.stringify({ ...me, since: new Date().toISOString() }), { mode: 0o644, flag: 'wx' })
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

/** Removes the stale lock `id` if this process wins its claim; whoever loses simply tries again. */
function takeOver(file: string, id: string): void {
  const claim = `${file}.takeover-${id}`
  let fd: number
  try {
    fd = openSync(claim, 'wx', 0o644)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    clearDeadClaim(claim)
    return
  }
  try {
    writeSync(fd, String(process.pid))
    if (readLock(file)?.id === id) unlinkSync(file)
  } finally {
    closeSync(fd)
    unlinkQuiet(claim)
  }
}

function clearDeadClaim(claim: string): void {
  try {
    const pid = Number(readFileSync(claim, 'utf8'))
    if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid) && Date.now() - statSync(claim).mtimeMs > STALE_CLAIM_MS) unlinkQuiet(claim)
  } catch { /* gone, or being written */ }
}

type Attempt = { ok: true } | { ok: false; holder: string }

function tryAcquire(file: string, me: Required<Holder>): Attempt {
  for (let i = 0; i < 10; i++) {
    if (create(file, me)) return { ok: true }
    const lock = readLock(file)
    if (!lock) continue // released meanwhile
    if (lock.stale) {
      takeOver(file, lock.id) // its owner is gone
      continue
    }
    const { pid, what } = lock.holder
    return { ok: false, holder: `${what ?? 'another kubelab process'} (PID ${pid ?? '?'})` }
  }
  return { ok: false, holder: 'another kubelab process (taking over a stale lock)' }
}

/** Removes the lock if it is still ours. */
function release(file: string, nonce: string): void {
  if (readLock(file)?.holder.nonce === nonce) unlinkQuiet(file)
}

export async function withFileLock<T>(file: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  mkdirSync(path.dirname(file), { recursive: true })
  const me = { pid: process.pid, what: options.what, nonce: randomBytes(12).toString('hex') }
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000)
  let told = false
  for (;;) {
    const r = tryAcquire(file, me)
    if (r.ok) break
    if (!options.wait || Date.now() > deadline) throw new LockedError(file, r.holder)
    if (!told) options.onWait?.(r.holder)
    told = true
    await sleep(500)
  }
  const forget = onInterrupt(() => release(file, me.nonce)) // Ctrl-C: no lock left behind
  try {
    return await fn()
  } finally {
    forget()
    release(file, me.nonce)
  }
}
