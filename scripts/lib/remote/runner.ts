// remote/runner.ts — the Runner: everything kubelab does on one node over SSH. One pooled ssh2
// connection per node (reconnected when it drops), up to `maxSessions` long-lived framed bash
// sessions on it (shell.ts) for commands, plus short-lived exec channels for streamed transfers.
// `$` is a zx-style tagged template (values quoted, script to bash with `set -euo pipefail`,
// `sudo -n` when the user is not root); `test` is its boolean form; writeFile and upload are atomic.

import { createReadStream } from 'node:fs'
import { isAbsolute, relative } from 'node:path'
import { Readable } from 'node:stream'
import type { ClientChannel } from 'ssh2'
import { CommandError, type CommandResult } from '../errors.ts'
import { onInterrupt } from '../host/interrupt.ts'
import type { Progress } from '../log/progress.ts'
import { lineRedactor, redactSecrets } from '../logs/redact.ts'
import { connect, type ConnectOptions, type Connection, type SshTarget } from './connect.ts'
import { CommandTimeoutError, SshError } from './errors.ts'
import type { HostKeyStore } from './hostkeys.ts'
import { buildScript, quote } from './quote.ts'
import { dollarFor, testResult, type Dollar, type Result, type RunOptions, type Runner, type UploadOptions } from './types.ts'
import { MAX_FRAMED_SCRIPT, Shell, type FramedResult } from './shell.ts'
import {
  INLINE_WRITE_MAX,
  VERIFY_FAILED_EXIT,
  catToCommand,
  checkSha256,
  finalizeScript,
  tempFileScript,
  uploadProbeScript,
  writeFileScript,
} from './transfer.ts'

export interface RunnerOptions {
  /** The node's name: in every result, error and host-key pin. */
  node: string
  target: SshTarget
  hostKeys: HostKeyStore
  progress?: Progress
  /** Run commands through `sudo -n`. Default: when target.user is not root. */
  sudo?: boolean
  /** Per-command timeout; 0 disables it. Default 10 minutes. */
  commandTimeoutMs?: number
  /** Sessions + transfer channels open at once on the connection (sshd MaxSessions is 10). Default 8. */
  maxSessions?: number
  connect?: ConnectOptions
  /** The command a user runs to forget a node's host key, for the changed-key hint. */
  resetCommand?: (node: string) => string
  /**
   * A host folder the node sees too (a read-only bind mount on machine containers): `upload` of a
   * file under `hostPath` copies it on the node from `nodePath` instead of streaming it over SSH.
   */
  sharedDir?: { hostPath: string; nodePath: string }
}

function firstLine(script: string): string {
  const lines = script.trim().split('\n')
  return (lines[0] ?? '').slice(0, 200) + (lines.length > 1 ? ` … (+${lines.length - 1} lines)` : '')
}

/** Streams chunks to Progress at verbosity 3, one line at a time, secrets redacted. */
function lineLogger(progress: Progress | undefined, prefix: string) {
  if (!progress || progress.verbosity < 3) return { onData: undefined, flush: () => undefined }
  let partial = ''
  const redact = lineRedactor()
  const show = (l: string) => {
    const shown = redact(l)
    if (shown !== undefined) progress.debug(3, `${prefix}${shown}`)
  }
  return {
    onData(b: Buffer) {
      const lines = (partial + b.toString('utf8')).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) show(l)
    },
    flush() {
      if (partial) show(partial)
      partial = ''
    },
  }
}

export class SshRunner implements Runner {
  readonly node: string
  readonly user: string
  readonly sudo: boolean
  readonly commandTimeoutMs: number
  readonly maxSessions: number
  /** zx-style: `await runner.$\`systemctl restart ${unit}\``, or `runner.$({ sudo: false })\`id -u\``. */
  readonly $: Dollar

  private conn: Connection | undefined
  private connecting: Promise<Connection> | undefined
  private closed = false
  /** Slots in use: sessions (idle or busy) and transfer channels. */
  private open = 0
  private idle: Shell[] = []
  private waiters: ((sh: Shell | undefined) => void)[] = []

  constructor(private readonly options: RunnerOptions) {
    this.node = options.node
    this.user = options.target.user
    this.sudo = options.sudo ?? options.target.user !== 'root'
    this.commandTimeoutMs = options.commandTimeoutMs ?? 600_000
    this.maxSessions = Math.max(1, options.maxSessions ?? 8)
    this.$ = dollarFor((script, opts) => this.run(script, opts))
  }

  test(strings: TemplateStringsArray, ...values: unknown[]): Promise<boolean> {
    return this.testScript(buildScript(strings, values))
  }

  testScript(script: string, options: RunOptions = {}): Promise<boolean> {
    return testResult(this.run(script, { ...options, nothrow: true }), (r) => this.hintFor(r))
  }

  /** Runs a script (already quoted) with `set -euo pipefail`. */
  async run(script: string, options: RunOptions = {}): Promise<Result> {
    const sudo = options.sudo ?? this.sudo
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs
    const full = `set -euo pipefail\n${script}`
    const progress = this.options.progress
    progress?.debug(2, `[${this.node}] $ ${redactSecrets(firstLine(script))}`)
    const out = lineLogger(progress, `[${this.node}] `)
    const err = lineLogger(progress, `[${this.node}] ! `)
    const started = performance.now()
    let res: FramedResult
    if (Buffer.byteLength(full) > MAX_FRAMED_SCRIPT) {
      // Too big for an argv string: the plain `bash -s` route on its own channel.
      const cmd = `${sudo ? 'sudo -n ' : ''}${timeoutMs > 0 ? `timeout -k 5 ${(timeoutMs / 1000).toFixed(3)} ` : ''}bash --noprofile --norc -s`
      const r = await this.exec(cmd, Buffer.from(full), timeoutMs > 0 ? timeoutMs + 10_000 : 0)
      res = { exitCode: r.exitCode ?? 128, stdout: r.stdout, stderr: r.stderr, abandoned: r.timedOut }
    } else {
      const attempt = () =>
        this.withShell((sh) =>
          sh.run({ script: full, sudo, timeoutMs, onStdout: out.onData, onStderr: err.onData }, timeoutMs > 0 ? timeoutMs + 10_000 : 0),
        )
      try {
        res = await attempt()
      } catch (e) {
        // The connection dropped before the remote shell acknowledged the command: it never ran.
        if (!(e instanceof SshError && e.reason === 'CONNECTION_LOST' && e.commandStarted === false) || this.closed) throw e
        progress?.debug(2, `[${this.node}] connection lost before the command started; retrying on a new connection`)
        res = await attempt()
      }
    }
    out.flush()
    err.flush()
    const durationMs = Math.round(performance.now() - started)
    const result: Result = {
      node: this.node,
      command: script,
      exitCode: res.exitCode,
      signal: null,
      stdout: res.stdout.toString('utf8'),
      stderr: res.stderr.toString('utf8'),
      durationMs,
      ok: res.exitCode === 0,
    }
    if (res.abandoned || (timeoutMs > 0 && (res.exitCode === 124 || res.exitCode === 137) && durationMs >= timeoutMs - 50)) {
      if (res.exitCode === 137 || res.abandoned) result.signal = 'SIGKILL'
      else result.signal = 'SIGTERM'
      throw new CommandTimeoutError(result, timeoutMs)
    }
    if (!result.ok && !options.nothrow) throw new CommandError(result, { hint: this.hintFor(result) })
    return result
  }

  /** Writes a file atomically (temp file in the same directory, then rename), creating parent dirs. */
  async writeFile(path: string, content: string | Buffer, mode = 0o644, owner?: string, options: RunOptions = {}): Promise<void> {
    const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content
    if (buf.length <= INLINE_WRITE_MAX) {
      await this.run(writeFileScript(path, buf, mode, owner), options)
      return
    }
    const tmp = (await this.run(tempFileScript(path), options)).stdout.trim()
    await this.withRemoteTemp(tmp, options, async () => {
      await this.streamTo(tmp, Readable.from([buf]), options.sudo ?? this.sudo)
      await this.run(finalizeScript(tmp, path, mode, owner), options)
    })
  }

  /** Runs `fn` with the node's temp file `tmp` removed when it fails and when kubelab is interrupted meanwhile. */
  private async withRemoteTemp<T>(tmp: string, options: RunOptions, fn: () => Promise<T>): Promise<T> {
    const remove = () => this.run(`rm -f -- ${quote(tmp)}`, { ...options, nothrow: true }).then(() => undefined, () => undefined)
    const forget = onInterrupt(remove)
    try {
      return await fn()
    } catch (err) {
      await remove()
      throw err
    } finally {
      forget()
    }
  }

  /**
   * Writes several small files in as few round trips as possible (one script per ~64 KiB of
   * content), each atomically as writeFile does. Larger files go through writeFile one by one.
   */
  async writeFiles(files: readonly { path: string; content: string | Buffer; mode?: number; owner?: string }[], options: RunOptions = {}): Promise<void> {
    let batch: string[] = []
    let size = 0
    const flush = async () => {
      if (batch.length) await this.run(batch.join(''), options)
      batch = []
      size = 0
    }
    for (const f of files) {
      const buf = typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : f.content
      if (buf.length > INLINE_WRITE_MAX) {
        await this.writeFile(f.path, buf, f.mode, f.owner, options)
        continue
      }
      if (size + buf.length > 64 * 1024) await flush()
      batch.push(`(\n${writeFileScript(f.path, buf, f.mode ?? 0o644, f.owner)})\n`)
      size += buf.length
    }
    await flush()
  }

  /**
   * Puts a local file on the node at `remotePath` unless it already has `sha256` ('skipped').
   * Streams through an exec channel into a temp file, verifies sha256 on the node, then renames.
   */
  async upload(localFile: string, remotePath: string, sha256: string, options: UploadOptions = {}): Promise<'skipped' | 'sent'> {
    const sha = checkSha256(sha256)
    const mode = options.mode ?? 0o644
    const run: RunOptions = options.sudo === undefined ? {} : { sudo: options.sudo }
    const probe = await this.run(uploadProbeScript(remotePath, sha, mode, options.owner), run)
    const tmp = probe.stdout.trim()
    if (tmp === 'skipped') return 'skipped'
    const t0 = performance.now()
    await this.withRemoteTemp(tmp, run, async () => {
      const shared = this.sharedPath(localFile)
      if (shared) {
        await this.run(`cp -- ${quote(shared)} ${quote(tmp)}`, run)
      } else {
        await this.streamTo(tmp, createReadStream(localFile, { highWaterMark: 1 << 20 }), options.sudo ?? this.sudo)
      }
      const fin = await this.run(finalizeScript(tmp, remotePath, mode, options.owner, sha), { ...run, nothrow: true })
      if (fin.exitCode === VERIFY_FAILED_EXIT) {
        throw new SshError(
          this.node,
          'UPLOAD_VERIFY_FAILED',
          `upload of ${localFile} to ${this.node}:${remotePath} failed verification: expected sha256 ${sha}, the node has ${fin.stdout.trim()}`,
          { hint: `the local file does not match its pinned checksum, or the transfer was corrupted; check ${localFile} with sha256sum` },
        )
      }
      if (!fin.ok) throw new CommandError(fin, { hint: this.hintFor(fin) })
    })
    this.options.progress?.debug(2, `[${this.node}] uploaded ${localFile} -> ${remotePath} in ${Math.round(performance.now() - t0)}ms`)
    return 'sent'
  }

  sharedPath(localFile: string): string | undefined {
    const shared = this.options.sharedDir
    const rel = shared ? relative(shared.hostPath, localFile) : undefined
    return shared && rel && !rel.startsWith('..') && !isAbsolute(rel) ? `${shared.nodePath}/${rel}` : undefined
  }

  /** Closes every session and the connection. The Runner cannot be used afterwards. */
  close(): void {
    this.closed = true
    for (const sh of this.idle.splice(0)) sh.close()
    this.conn?.close()
    this.conn = undefined
  }

  // ---- connection and session pool ----

  private async connection(): Promise<Connection> {
    if (this.closed) throw new SshError(this.node, 'CONNECTION_LOST', `the runner for ${this.node} is closed`)
    if (this.conn?.alive) return this.conn
    this.connecting ??= connect(
      { node: this.node, hostKeys: this.options.hostKeys, progress: this.options.progress, resetCommand: this.options.resetCommand },
      this.options.target,
      this.options.connect,
    )
      .then((c) => {
        this.conn = c
        c.onClose(() => {
          if (this.conn === c) this.conn = undefined
          this.options.progress?.debug(2, `[${this.node}] ssh connection closed`)
        })
        if (this.closed) c.close()
        return c
      })
      .finally(() => {
        this.connecting = undefined
      })
    return this.connecting
  }

  private async withShell<T>(fn: (sh: Shell) => Promise<T>): Promise<T> {
    const sh = await this.acquireShell()
    try {
      return await fn(sh)
    } finally {
      this.releaseShell(sh)
    }
  }

  private async acquireShell(): Promise<Shell> {
    for (;;) {
      const sh = this.idle.pop()
      if (sh) {
        if (sh.usable) return sh
        continue
      }
      if (this.open < this.maxSessions) {
        this.open++
        return this.openShell()
      }
      const got = await new Promise<Shell | undefined>((resolve) => this.waiters.push(resolve))
      return got ?? this.openShell() // undefined: a slot was handed over
    }
  }

  /** Opens a session in a slot the caller holds; frees the slot on failure. */
  private async openShell(): Promise<Shell> {
    try {
      let conn = await this.connection()
      let sh: Shell
      try {
        sh = await Shell.open(conn.client, this.node)
      } catch (err) {
        if (conn.alive && !(err instanceof SshError && err.reason === 'CONNECTION_LOST')) throw err
        conn.close() // the connection died under us (e.g. sshd restarted): once more on a fresh one
        if (this.conn === conn) this.conn = undefined
        conn = await this.connection()
        sh = await Shell.open(conn.client, this.node)
      }
      conn.onClose(() => sh.close())
      sh.onDeath(() => {
        const i = this.idle.indexOf(sh)
        if (i >= 0) this.idle.splice(i, 1)
        if (sh.ownsSlot) this.freeSlot()
      })
      return sh
    } catch (err) {
      this.freeSlot()
      throw err
    }
  }

  private releaseShell(sh: Shell): void {
    if (!sh.usable) return // dead: its onDeath freed the slot
    if (this.closed) return sh.close()
    const w = this.waiters.shift()
    if (w) w(sh)
    else this.idle.push(sh)
  }

  private freeSlot(): void {
    const w = this.waiters.shift()
    if (w) w(undefined)
    else this.open--
  }

  /** A slot for a transfer channel: a free one, or one taken from an idle session. */
  private async acquireSlot(): Promise<void> {
    if (this.open < this.maxSessions) {
      this.open++
      return
    }
    const idle = this.idle.pop() ?? (await new Promise<Shell | undefined>((resolve) => this.waiters.push(resolve)))
    if (idle) {
      idle.ownsSlot = false
      idle.close()
    }
  }

  // ---- exec channels (transfers, oversized scripts) ----

  private async streamTo(tmp: string, input: Readable, sudo: boolean): Promise<void> {
    const command = catToCommand(tmp, sudo)
    const r = await this.exec(command, input, 0)
    if (r.exitCode !== 0) {
      const result: Result = {
        node: this.node,
        command,
        exitCode: r.exitCode ?? -1,
        signal: r.signal,
        stdout: r.stdout.toString('utf8'),
        stderr: r.stderr.toString('utf8'),
        durationMs: r.durationMs,
        ok: false,
      }
      throw new CommandError(result, { hint: this.hintFor(result) })
    }
  }

  private async exec(command: string, input: Readable | Buffer, timeoutMs: number) {
    await this.acquireSlot()
    const started = performance.now()
    try {
      const conn = await this.connection()
      const ch = await new Promise<ClientChannel>((resolve, reject) =>
        conn.client.exec(command, (err, c) =>
          err ? reject(new SshError(this.node, 'CHANNEL_FAILED', `cannot open an SSH channel on ${this.node}: ${err.message}`, { cause: err })) : resolve(c),
        ),
      )
      return await new Promise<{ exitCode: number | null; signal: string | null; stdout: Buffer; stderr: Buffer; durationMs: number; timedOut: boolean }>(
        (resolve, reject) => {
          const out: Buffer[] = []
          const err: Buffer[] = []
          let exitCode: number | null = null
          let signal: string | null = null
          let timedOut = false
          let failed: unknown
          const timer = timeoutMs > 0 ? setTimeout(() => ((timedOut = true), ch.close()), timeoutMs) : undefined
          ch.on('data', (d: Buffer) => out.push(d))
          ch.stderr.on('data', (d: Buffer) => err.push(d))
          ch.on('exit', (code: number | null, sig?: string) => {
            exitCode = code ?? null
            signal = sig ? `SIG${sig}` : null
          })
          ch.on('error', (e: unknown) => (failed ??= e))
          ch.on('close', () => {
            clearTimeout(timer)
            if (failed) return reject(failed)
            if (exitCode === null && signal === null && !timedOut) {
              return reject(new SshError(this.node, 'CONNECTION_LOST', `the SSH connection to ${this.node} dropped during a transfer`))
            }
            resolve({ exitCode, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), durationMs: Math.round(performance.now() - started), timedOut })
          })
          if (Buffer.isBuffer(input)) ch.end(input)
          else {
            input.on('error', (e) => {
              failed ??= e
              ch.close()
            })
            input.pipe(ch)
          }
        },
      )
    } finally {
      this.freeSlot()
    }
  }

  private hintFor(r: CommandResult): string | undefined {
    if (/sudo: (a password is required|a terminal is required)|is not in the sudoers file|is not allowed to run sudo|may not run sudo/.test(r.stderr)) {
      return `user "${this.user}" needs passwordless sudo on ${this.node}: add "${this.user} ALL=(ALL) NOPASSWD:ALL" to /etc/sudoers.d/${this.user}, or connect as root`
    }
    if (r.exitCode === 127 && /sudo: (command )?not found/.test(r.stderr)) return `install sudo on ${this.node}, or connect as root`
    if (r.exitCode === 127) return `a command was not found on ${this.node} (see stderr)`
    return undefined
  }
}
