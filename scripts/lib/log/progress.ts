// Human progress on stderr: one line per step (` ✓ Title  detail  4.1s`); while a step runs, on a
// TTY outside CI a live line (spinner, elapsed time, the estimate where one is known, the live
// reason), elsewhere (CI, logs) a line every 30 s saying it still runs. Verbosity levels: 0 one
// line per step; 1 (-v) per node; 2 (-vv) every remote command; 3 (-vvv) streamed output. Machine
// output never goes through here (it is stdout --json).

export interface LogSink {
  write(text: string): unknown
  isTTY?: boolean
}

export type Verbosity = 0 | 1 | 2 | 3

export interface ProgressOptions {
  sink?: LogSink
  verbosity?: Verbosity
  /** Draw a spinner and rewrite lines. Default: sink is a TTY and CI is not set. */
  interactive?: boolean
  /** Clock, injectable for tests. */
  now?: () => number
  /** Not interactive: how often a running step says it still runs. Default 30 s. */
  heartbeatMs?: number
}

export interface StepOptions {
  /** How long the step took last time (shown as `about ...`); omitted when unknown. */
  readonly estimateMs?: number | undefined
}

const HEARTBEAT_MS = 30_000

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const m = Math.floor(ms / 60_000)
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`
}

export class Progress {
  readonly verbosity: Verbosity
  readonly interactive: boolean
  private readonly sink: LogSink
  private readonly now: () => number
  private readonly heartbeatMs: number
  /** The steps running now, in the order they started. */
  private readonly running: Running[] = []
  private spun: Running | undefined
  private drawing: NodeJS.Timeout | undefined
  private frame = 0

  constructor(options: ProgressOptions = {}) {
    this.sink = options.sink ?? process.stderr
    this.verbosity = options.verbosity ?? 0
    this.interactive = options.interactive ?? (Boolean(this.sink.isTTY) && !process.env.CI)
    this.now = options.now ?? Date.now
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS
  }

  /** A plain message at verbosity 0. */
  info(message: string): void {
    this.line(message)
  }

  warn(message: string): void {
    this.line(`! ${message}`)
  }

  /** A message shown only at verbosity >= level (1: per node, 2: commands, 3: streamed output). */
  debug(level: 1 | 2 | 3, message: string): void {
    if (this.verbosity >= level) this.line(`  ${message}`)
  }

  /** The live reason of the step started last: on its live line (TTY) and heartbeat, else at -v when it changes. */
  status(text: string): void {
    const top = this.running.at(-1)
    if (top) {
      const changed = top.detail !== text
      top.detail = text
      if (this.interactive || !changed) return
    }
    this.debug(1, text)
  }

  /**
   * Runs `fn` as one named step: while it runs a live line (interactive) or a heartbeat, then
   * ` ✓ title  detail  1.2s` or ` ✗ title  detail`. The error is rethrown unchanged. Steps may
   * run inside each other and side by side: each has its own heartbeat, the live line shows the
   * one started last.
   */
  async step<T>(title: string, fn: () => Promise<T>, detail?: (result: T) => string, o: StepOptions = {}): Promise<T> {
    const started = this.now()
    const running = this.start(title, o.estimateMs)
    try {
      const result = await fn()
      this.stop(running)
      const d = detail?.(result)
      this.line(` ✓ ${title}${d ? `  ${d}` : ''}  ${formatDuration(this.now() - started)}`)
      return result
    } catch (err) {
      this.stop(running)
      this.line(` ✗ ${title}  ${formatDuration(this.now() - started)}`)
      throw err
    }
  }

  /**
   * The live line of work that runs elsewhere (the step runner's): shows `title` while it runs;
   * undefined stops it. Lines printed meanwhile keep it below them.
   */
  spin(title: string | undefined): void {
    if (title === this.spun?.title) return
    if (this.spun) this.stop(this.spun)
    this.spun = title === undefined ? undefined : this.start(title)
  }

  /** A finished step's line: ` ✓ title  detail  1.2s` or ` ✗ title  detail  1.2s`. */
  stepLine(title: string, ok: boolean, detail: string, durationMs: number): void {
    this.line(` ${ok ? '✓' : '✗'} ${title}${detail ? `  ${detail}` : ''}  ${formatDuration(durationMs)}`)
  }

  private line(text: string): void {
    if (this.drawing) this.sink.write('\r\x1b[2K')
    this.sink.write(`${text}\n`)
  }

  /** `1m02s of about 6m10s`: the time so far, with the estimate when there is one. */
  private elapsed(r: Running): string {
    return `${formatDuration(this.now() - r.started)}${r.estimateMs ? ` of about ${formatDuration(r.estimateMs)}` : ''}`
  }

  private start(title: string, estimateMs?: number): Running {
    const r: Running = { title, started: this.now(), estimateMs }
    this.running.push(r)
    if (this.interactive) {
      this.drawing ??= setInterval(() => this.draw(), 80)
      this.drawing.unref()
      this.draw()
    } else {
      r.heartbeat = setInterval(() => this.sink.write(`   … ${title}: still running, ${this.elapsed(r)}${r.detail ? ` (${r.detail.slice(0, 160)})` : ''}\n`), this.heartbeatMs)
      r.heartbeat.unref()
    }
    return r
  }

  private draw(): void {
    const r = this.running.at(-1)
    if (r) this.sink.write(`\r\x1b[2K ${FRAMES[this.frame++ % FRAMES.length]} ${r.title}  ${this.elapsed(r)}${r.detail ? `  (${r.detail.slice(0, 100)})` : ''}`)
  }

  private stop(r: Running): void {
    const i = this.running.indexOf(r)
    if (i < 0) return
    this.running.splice(i, 1)
    if (r.heartbeat) clearInterval(r.heartbeat)
    if (this.drawing) {
      this.sink.write('\r\x1b[2K')
      if (this.running.length === 0) {
        clearInterval(this.drawing)
        this.drawing = undefined
      }
    }
  }
}

interface Running {
  readonly title: string
  readonly started: number
  readonly estimateMs?: number | undefined
  detail?: string
  heartbeat?: NodeJS.Timeout
}
