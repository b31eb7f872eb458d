// Processes kubelab starts and must outlive it (machines, forwarders): started detached with
// output to a log, recognised later by PID *and* command line (a reused PID is not ours), stopped
// with SIGTERM then SIGKILL. Plus a free loopback port and the wait for an SSH banner.

import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** /proc/PID/cmdline contains every needle: the PID is (still) the process we started. */
export function processMatches(pid: number | undefined, ...needles: string[]): boolean {
  if (!pid) return false
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    return needles.every((n) => cmd.some((a) => a.includes(n)))
  } catch {
    return false
  }
}


/** Starts a detached process whose output goes to `log`; returns its PID. */
export function spawnDetached(command: string, args: string[], log: string, env?: NodeJS.ProcessEnv): number {
  const fd = openSync(log, 'a')
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env })
    child.unref()
    if (!child.pid) throw new Error(`could not start ${command}`)
    return child.pid
  } finally {
    closeSync(fd)
  }
}


/** A free TCP port on 127.0.0.1 (the preferred one when it is free). */
export async function freePort(preferred?: number): Promise<number> {
  const tryListen = (port: number) => new Promise<number | undefined>((resolve) => {
    const srv = net.createServer()
    srv.once('error', () => resolve(undefined))
    srv.listen(port, '127.0.0.1', () => {
      const got = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(got))
    })
  })
  if (preferred) {
    const p = await tryListen(preferred)
    if (p) return p
  }
  const p = await tryListen(0)
  if (!p) throw new Error('no free port on 127.0.0.1')
  return p
}

/** Where sshd can be reached from the host: a UNIX socket (forwarder) or a loopback port. */
export type SshDial = { path: string } | { host: string; port: number }

/** Resolves when the endpoint answers with an SSH banner; throws after the deadline. */
export async function waitForSshBanner(dial: SshDial, deadline: number): Promise<void> {
  for (;;) {
    const banner = await new Promise<string>((resolve) => {
      const s = 'path' in dial ? net.connect(dial.path) : net.connect(dial.port, dial.host)
      let data = ''
      const done = (v: string) => { s.destroy(); resolve(v) }
      s.setTimeout(3000, () => done(''))
      s.on('data', (b) => { data += b.toString('latin1'); if (data.includes('\n')) done(data) })
      s.on('error', () => done(''))
      s.on('close', () => done(data))
    })
    if (banner.startsWith('SSH-')) return
    if (Date.now() > deadline) throw new Error('sshd did not answer')
    await sleep(250)
  }
}

async function waitExit(pid: number, match: string[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (!processMatches(pid, ...match)) return true
    await sleep(100)
  }
  return !processMatches(pid, ...match)
}

/** Stops a process we started (checked by its command line): SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(pid: number | undefined, match: string[], graceMs: number): Promise<void> {
  if (!pid || !processMatches(pid, ...match)) return
  try { process.kill(pid, 'SIGTERM') } catch { return }
  if (await waitExit(pid, match, graceMs)) return
  try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
  await waitExit(pid, match, 5000)
}


/** The last lines of a console or serial log, terminal escapes removed. */
export function logTail(file: string, lines = 20): string[] {
  try {
    const text = readFileSync(file, 'utf8').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '')
    return text.split('\n').filter((l) => l.trim()).slice(-lines)
  } catch {
    return []
  }
}
