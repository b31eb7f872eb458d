// remote/shell.ts — one long-lived `bash --noprofile --norc` session on an ssh2 connection, running
// framed commands one at a time. Per command, the controller reads the script from a here-doc with
// a random delimiter, acknowledges it on stdout, and runs it as
//   [sudo -n] timeout -k 5 T bash --noprofile --norc -c SCRIPT </dev/null
// (`timeout` makes a process group and signals all of it, so a timeout kills the whole tree), then
// prints a random marker and the exit code on stdout AND stderr: the two SSH streams stay separate
// and the marker ends each. A session lost before the acknowledgement never started the command, so
// the Runner may retry it on a fresh connection. This avoids a channel open, the login shell and
// ~/.bashrc per command, the expensive parts of `ssh host cmd`.

import { randomBytes } from 'node:crypto'
import type { Client, ClientChannel } from 'ssh2'
import { SshError } from './errors.ts'

/** The constant exec string of every session. */
export const SHELL_COMMAND = 'bash --noprofile --norc'

/** Larger scripts go through a dedicated `bash -s` channel (argv strings are capped at 128 KiB). */
export const MAX_FRAMED_SCRIPT = 96 * 1024

const CONTROLLER = `
unset HISTFILE
__kl() {
  local __kl_s __kl_rc
  IFS= read -r -d '' __kl_s
  printf '%s\\n' "$4"
  if [ "$2" = 1 ]; then
    sudo -n -- timeout -k 5 "$1" bash --noprofile --norc -c "$__kl_s" </dev/null
  else
    timeout -k 5 "$1" bash --noprofile --norc -c "$__kl_s" </dev/null
  fi
  __kl_rc=$?
  printf '%s %d\\n' "$3" "$__kl_rc" >&2
  printf '%s %d\\n' "$3" "$__kl_rc"
}
`

export interface FramedRun {
  /** The whole script (the caller adds `set -euo pipefail`). */
  script: string
  sudo: boolean
  /** 0: no timeout. */
  timeoutMs: number
  onStdout?: ((chunk: Buffer) => void) | undefined
  onStderr?: ((chunk: Buffer) => void) | undefined
}

export interface FramedResult {
  exitCode: number
  stdout: Buffer
  stderr: Buffer
  /** The client-side backstop fired: the session was dropped without an exit code. */
  abandoned: boolean
}

/** Splits one stream at `marker + ' ' + digits + '\n'`, passing everything before it on. */
class MarkerScanner {
  private pending: Buffer = Buffer.alloc(0)
  readonly chunks: Buffer[] = []
  trailer: string | undefined
  constructor(
    private readonly marker: Buffer,
    private readonly onData?: ((b: Buffer) => void) | undefined,
  ) {}

  /** Returns true once the marker line is complete. */
  feed(chunk: Buffer): boolean {
    if (this.trailer !== undefined) return true
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    const at = this.pending.indexOf(this.marker)
    if (at < 0) {
      // Keep a tail that could be the start of a split marker.
      const keep = Math.min(this.pending.length, this.marker.length - 1)
      this.emit(this.pending.subarray(0, this.pending.length - keep))
      this.pending = Buffer.from(this.pending.subarray(this.pending.length - keep))
      return false
    }
    const nl = this.pending.indexOf(0x0a, at)
    if (nl < 0) {
      this.emit(this.pending.subarray(0, at))
      this.pending = Buffer.from(this.pending.subarray(at))
      return false
    }
    this.emit(this.pending.subarray(0, at))
    this.trailer = this.pending.subarray(at + this.marker.length, nl).toString('latin1').trim()
    this.pending = Buffer.alloc(0)
    return true
  }

  private emit(b: Buffer) {
    if (!b.length) return
    this.chunks.push(Buffer.from(b))
    this.onData?.(b)
  }
}

interface Job {
  ack: Buffer
  acked: boolean
  ackPending: Buffer
  out: MarkerScanner
  err: MarkerScanner
  outDone: boolean
  errDone: boolean
  resolve(r: FramedResult): void
  reject(e: unknown): void
  timer?: NodeJS.Timeout | undefined
}

export class Shell {
  private job: Job | undefined
  private dead = false
  private readonly deathHandlers: (() => void)[] = []
  /** Whether closing this shell frees a pool slot (the pool clears it when it transfers the slot). */
  ownsSlot = true

  private constructor(
    private readonly node: string,
    private readonly channel: ClientChannel,
  ) {
    channel.on('data', (d: Buffer) => this.onStream(d, 'out'))
    channel.stderr.on('data', (d: Buffer) => this.onStream(d, 'err'))
    channel.on('close', () => this.die(`the SSH session to ${node} closed while a command was running`))
    channel.on('error', () => undefined)
  }

  /** Opens the session and waits until the controller answers (past any ~/.bashrc noise). */
  static async open(client: Client, node: string): Promise<Shell> {
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      client.exec(SHELL_COMMAND, (err, ch) =>
        err
          ? reject(new SshError(node, 'CHANNEL_FAILED', `cannot open an SSH session on ${node}: ${err.message}`, {
              cause: err,
              hint: 'the server limits sessions per connection (sshd MaxSessions); lower maxSessions',
            }))
          : resolve(ch),
      ),
    )
    const sh = new Shell(node, channel)
    // The first frame is a no-op command: it proves the controller runs and skips startup noise.
    const ready = await sh.frame(CONTROLLER, { script: 'true\n', sudo: false, timeoutMs: 0 }, 30_000).catch((err) => {
      sh.close()
      throw err
    })
    if (ready.abandoned || ready.exitCode !== 0) {
      sh.close()
      throw new SshError(node, 'PROTOCOL', `the remote shell on ${node} did not start (${SHELL_COMMAND}): ${ready.stderr.toString().trim()}`, {
        hint: 'bash and coreutils `timeout` must be installed on the node',
      })
    }
    return sh
  }

  get usable(): boolean {
    return !this.dead && this.job === undefined
  }

  get alive(): boolean {
    return !this.dead
  }

  onDeath(fn: () => void): void {
    if (this.dead) fn()
    else this.deathHandlers.push(fn)
  }

  /** Runs one script. `backstopMs` (0: none) drops the session if no exit code arrived by then. */
  run(r: FramedRun, backstopMs: number): Promise<FramedResult> {
    return this.frame('', r, backstopMs)
  }

  close(): void {
    if (this.dead) return
    this.channel.end()
    this.die(`the SSH session to ${this.node} was closed`)
  }

  private frame(prelude: string, r: FramedRun, backstopMs: number): Promise<FramedResult> {
    if (this.dead) return Promise.reject(new SshError(this.node, 'CONNECTION_LOST', `the SSH session to ${this.node} is closed`))
    if (this.job) throw new Error('Shell.run: a command is already running on this session')
    const id = randomBytes(12).toString('hex')
    const marker = `__KL_END_${id}__`
    const eof = `__KL_EOF_${id}__`
    const ack = `__KL_ACK_${id}__`
    const script = r.script.endsWith('\n') ? r.script : `${r.script}\n`
    const timeout = r.timeoutMs > 0 ? (r.timeoutMs / 1000).toFixed(3) : '0'
    const text = `${prelude}__kl ${timeout} ${r.sudo ? 1 : 0} ${marker} ${ack} <<'${eof}'\n${script}${eof}\n`
    return new Promise<FramedResult>((resolve, reject) => {
      const mb = Buffer.from(marker)
      const job: Job = {
        ack: Buffer.from(`${ack}\n`),
        acked: false,
        ackPending: Buffer.alloc(0),
        out: new MarkerScanner(mb, r.onStdout),
        err: new MarkerScanner(mb, r.onStderr),
        outDone: false,
        errDone: false,
        resolve,
        reject,
      }
      if (backstopMs > 0) {
        job.timer = setTimeout(() => {
          if (this.job !== job) return
          this.job = undefined
          resolve({ exitCode: -1, stdout: Buffer.concat(job.out.chunks), stderr: Buffer.concat(job.err.chunks), abandoned: true })
          this.close()
        }, backstopMs)
      }
      this.job = job
      this.channel.write(text)
    })
  }

  private onStream(d: Buffer, which: 'out' | 'err') {
    const job = this.job
    if (!job) return // output of a background process after its command ended: dropped
    if (which === 'out' && !job.acked) {
      // Everything before the acknowledgement (startup noise of ~/.bashrc on the first frame) is dropped.
      const buf = job.ackPending.length ? Buffer.concat([job.ackPending, d]) : d
      const at = buf.indexOf(job.ack)
      if (at < 0) {
        job.ackPending = Buffer.from(buf.subarray(Math.max(0, buf.length - job.ack.length + 1)))
        return
      }
      job.acked = true
      job.ackPending = Buffer.alloc(0)
      d = buf.subarray(at + job.ack.length)
      if (!d.length) return
    }
    if (which === 'out') job.outDone = job.out.feed(d)
    else job.errDone = job.err.feed(d)
    if (!job.outDone || !job.errDone) return
    this.job = undefined
    clearTimeout(job.timer)
    const code = Number.parseInt(job.out.trailer ?? '', 10)
    if (!Number.isInteger(code)) {
      job.reject(new SshError(this.node, 'PROTOCOL', `unexpected reply from the remote shell on ${this.node}: ${job.out.trailer}`))
      this.close()
      return
    }
    job.resolve({ exitCode: code, stdout: Buffer.concat(job.out.chunks), stderr: Buffer.concat(job.err.chunks), abandoned: false })
  }

  private die(reason: string) {
    if (this.dead) return
    this.dead = true
    const job = this.job
    this.job = undefined
    if (job) {
      clearTimeout(job.timer)
      job.reject(new SshError(this.node, 'CONNECTION_LOST', `${reason} (the command ${job.acked ? 'had started' : 'had not started'})`, { commandStarted: job.acked }))
    }
    for (const fn of this.deathHandlers.splice(0)) fn()
  }
}
