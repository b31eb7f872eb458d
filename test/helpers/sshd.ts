// test/helpers/sshd.ts — a throwaway OpenSSH server for integration tests and benchmarks: Debian's
// /usr/sbin/sshd on a free 127.0.0.1 port with its own sshd_config, host key, authorized_keys
// (AuthorizedKeysFile in the temp dir, so real home dirs are untouched) and PidFile, run as
// `sshd -D -e -f CONFIG` and stopped by PID (plus the per-connection children it forked).
// Test users are created once, idempotently: one with passwordless sudo, one without.
// Needs root and the Debian packages openssh-server and sudo.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../scripts/lib/providers/common/process.ts'

export const SUDO_USER = 'kubelab-sudo'
export const NOSUDO_USER = 'kubelab-nosudo'
const SSHD = '/usr/sbin/sshd'

/** Why these tests cannot run here, or undefined when they can. */
export function sshdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (creates users, runs sshd)'
  if (!existsSync(SSHD)) return 'needs openssh-server (/usr/sbin/sshd)'
  return undefined
}

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] })
}

function userExists(name: string): boolean {
  try {
    sh('id', ['-u', name])
    return true
  } catch {
    return false
  }
}

/** Creates the test users once (idempotent) and makes sure sudo is installed. */
export function ensureTestUsers(): void {
  if (!existsSync('/usr/bin/sudo')) sh('apt-get', ['install', '-y', 'sudo'])
  for (const u of [SUDO_USER, NOSUDO_USER]) {
    if (!userExists(u)) sh('useradd', ['-m', '-s', '/bin/bash', u])
    // Not locked ("!"), no usable password: sshd without PAM refuses locked accounts.
    sh('usermod', ['-p', '*', u])
  }
  const dropIn = '/etc/sudoers.d/kubelab-test'
  const line = `${SUDO_USER} ALL=(ALL) NOPASSWD:ALL\n`
  if (!existsSync(dropIn) || readFileSync(dropIn, 'utf8') !== line) {
    writeFileSync(dropIn, line, { mode: 0o440 })
    chmodSync(dropIn, 0o440)
  }
}

export { freePort }

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = netConnect({ host: '127.0.0.1', port })
    c.once('connect', () => (c.destroy(), resolve(true)))
    c.once('error', () => resolve(false))
  })
}

/** All descendants of pid (the per-connection sshd processes), from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const list = children.get(ppid) ?? []
      list.push(Number(d))
      children.set(ppid, list)
    } catch {
      // gone
    }
  }
  const out: number[] = []
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c)
      walk(c)
    }
  }
  walk(pid)
  return out
}

function keygen(file: string, comment: string): void {
  rmSync(file, { force: true })
  rmSync(`${file}.pub`, { force: true })
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file])
}

export interface SshdOptions {
  port?: number
  /** Extra sshd_config lines. */
  extraConfig?: string
}

export class Sshd {
  readonly host = '127.0.0.1'
  port = 0
  readonly dir: string
  /** Private key accepted for root, SUDO_USER and NOSUDO_USER. */
  readonly clientKey: string
  /** A key nobody accepts. */
  readonly wrongKey: string
  readonly hostKey: string
  private proc: ChildProcess | undefined
  private log = ''

  private constructor(private readonly options: SshdOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'kubelab-sshd-'))
    chmodSync(this.dir, 0o755) // the users' sshd children read authorized_keys as the user
    this.clientKey = join(this.dir, 'client_ed25519')
    this.wrongKey = join(this.dir, 'wrong_ed25519')
    this.hostKey = join(this.dir, 'host_ed25519')
  }

  static async start(options: SshdOptions = {}): Promise<Sshd> {
    ensureTestUsers()
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }) // privilege separation dir
    const s = new Sshd(options)
    keygen(s.clientKey, 'kubelab-test-client')
    keygen(s.wrongKey, 'kubelab-test-wrong')
    keygen(s.hostKey, 'kubelab-test-host')
    const ak = join(s.dir, 'authorized_keys')
    mkdirSync(ak, { mode: 0o755 })
    const pub = readFileSync(`${s.clientKey}.pub`, 'utf8')
    for (const u of ['root', SUDO_USER, NOSUDO_USER]) writeFileSync(join(ak, u), pub, { mode: 0o644 })
    s.port = options.port ?? (await freePort())
    await s.launch()
    return s
  }

  get pid(): number | undefined {
    return this.proc?.pid
  }

  /** The host key's SHA256 fingerprint as OpenSSH prints it. */
  hostFingerprint(): string {
    return sh('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${this.hostKey}.pub`]).split(' ')[1] ?? ''
  }

  /** Stops sshd and every session process it forked. */
  async stop(): Promise<void> {
    const p = this.proc
    if (!p?.pid || p.exitCode !== null || p.signalCode !== null) return
    this.proc = undefined
    const kids = descendants(p.pid)
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill('SIGTERM')
    for (const k of kids) {
      try {
        process.kill(k, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  }

  /** Stops and starts again on the same port, optionally with a freshly generated host key. */
  async restart(options: { newHostKey?: boolean } = {}): Promise<void> {
    await this.stop()
    if (options.newHostKey) keygen(this.hostKey, 'kubelab-test-host')
    await this.launch()
  }

  /** Stops and removes the temp dir. */
  async dispose(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }

  get logText(): string {
    return this.log
  }

  private async launch(): Promise<void> {
    const config = join(this.dir, 'sshd_config')
    writeFileSync(
      config,
      [
        `Port ${this.port}`,
        `ListenAddress 127.0.0.1`,
        `HostKey ${this.hostKey}`,
        `PidFile ${join(this.dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}/%u`,
        `StrictModes no`,
        `PermitRootLogin prohibit-password`,
        `UsePAM no`,
        `PasswordAuthentication no`,
        `KbdInteractiveAuthentication no`,
        `PubkeyAuthentication yes`,
        `AllowTcpForwarding yes`,
        `MaxStartups 64:30:128`,
        `MaxSessions 10`,
        `PrintMotd no`,
        `Subsystem sftp /usr/lib/openssh/sftp-server`,
        `LogLevel ERROR`,
        this.options.extraConfig ?? '',
      ].join('\n') + '\n',
    )
    const proc = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr?.on('data', (d: Buffer) => (this.log += d.toString()))
    this.proc = proc
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`sshd exited with ${proc.exitCode}: ${this.log}`)
      if (await canConnect(this.port)) return
      await new Promise((r) => setTimeout(r, 20))
    }
    await this.stop()
    throw new Error(`sshd did not listen on 127.0.0.1:${this.port} within 10s: ${this.log}`)
  }
}
