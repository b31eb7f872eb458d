// File locks between kubelab processes: the cluster lock (a second `up`/`down` on the same
// cluster is refused) and build locks (a second build of the same cache entry waits). The lock
// file holds the owner's PID and what it is doing; a lock whose PID is gone is stale and taken over.

import { openSync, closeSync, writeSync, readFileSync, rmSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { LockedError } from '../../errors.ts'

export interface LockOptions {
  /** Wait for the holder instead of failing at once. */
  wait: boolean
  /** What the holder is doing, shown to whoever finds the lock taken. */
  what: string
  /** How long to wait at most (ms). */
  timeoutMs?: number
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function tryAcquire(file: string, what: string): { ok: true } | { ok: false; holder: string } {
  try {
    const fd = openSync(file, 'wx', 0o644)
    writeSync(fd, JSON.stringify({ pid: process.pid, what }))
    closeSync(fd)
    return { ok: true }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  let holder: { pid?: number; what?: string } = {}
  try { holder = JSON.parse(readFileSync(file, 'utf8')) as typeof holder } catch { /* being written or corrupt */ }
  if (typeof holder.pid === 'number' && !alive(holder.pid)) {
    rmSync(file, { force: true }) // stale: its owner is gone
    return tryAcquire(file, what)
  }
  return { ok: false, holder: `${holder.what ?? 'another kubelab process'} (PID ${holder.pid ?? '?'})` }
}

export async function withFileLock<T>(file: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  mkdirSync(path.dirname(file), { recursive: true })
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000)
  for (;;) {
    const r = tryAcquire(file, options.what)
    if (r.ok) break
    if (!options.wait || Date.now() > deadline) throw new LockedError(file, r.holder)
    await sleep(500)
  }
  try {
    return await fn()
  } finally {
    rmSync(file, { force: true })
  }
}
