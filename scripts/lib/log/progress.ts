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
  private spinner: { timer: NodeJS.Timeout; title: string; started: number; estimateMs?: number | undefined; detail?: string } | undefined

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

  /** The live reason of the running step: on the spinner line (TTY), else at -v when it changes. */
  status(text: string): void {
    if (this.spinner) {
      const changed = this.spinner.detail !== text
      this.spinner.detail = text
      if (this.interactive || !changed) return
    }
    this.debug(1, text)
  }

  /**
   * Runs `fn` as one named step: a spinner while it runs (interactive only), then
   * ` ✓ title  detail  1.2s` or ` ✗ title  detail`. The error is rethrown unchanged.
   */
  async step<T>(title: string, fn: () => Promise<T>, detail?: (result: T) => string, o: StepOptions = {}): Promise<T> {
    const started = this.now()
    this.startSpinner(title, o.estimateMs)
    try {
      const result = await fn()
      this.stopSpinner()
      const d = detail?.(result)
      this.line(` ✓ ${title}${d ? `  ${d}` : ''}  ${formatDuration(this.now() - started)}`)
      return result
    } catch (err) {
      this.stopSpinner()
      this.line(` ✗ ${title}  ${formatDuration(this.now() - started)}`)
      throw err
    }
  }

  /**
   * The spinner of work that runs elsewhere (the step runner's): shows `title` while it runs
   * (interactive only); undefined stops it. Lines printed meanwhile keep it below them.
   */
  spin(title: string | undefined): void {
    if (title === this.spinner?.title) return
    this.stopSpinner()
    if (title !== undefined) this.startSpinner(title)
  }

  /** A finished step's line: ` ✓ title  detail  1.2s` or ` ✗ title  detail  1.2s`. */
  stepLine(title: string, ok: boolean, detail: string, durationMs: number): void {
    this.line(` ${ok ? '✓' : '✗'} ${title}${detail ? `  ${detail}` : ''}  ${formatDuration(durationMs)}`)
  }

  private line(text: string): void {
    if (this.spinner && this.interactive) this.sink.write('\r\x1b[2K')
    this.sink.write(`${text}\n`)
  }

  /** `1m02s of about 6m10s`: the time so far, with the estimate when there is one. */
  private elapsed(): string {
    const s = this.spinner!
    return `${formatDuration(this.now() - s.started)}${s.estimateMs ? ` of about ${formatDuration(s.estimateMs)}` : ''}`
  }

  private startSpinner(title: string, estimateMs?: number): void {
    let i = 0
    const draw = () => this.sink.write(`\r\x1b[2K ${FRAMES[i++ % FRAMES.length]} ${title}  ${this.elapsed()}${this.spinner?.detail ? `  (${this.spinner.detail.slice(0, 100)})` : ''}`)
    const beat = () => this.sink.write(`   … ${title}: still running, ${this.elapsed()}${this.spinner?.detail ? ` (${this.spinner.detail.slice(0, 160)})` : ''}\n`)
    this.spinner = { timer: setInterval(this.interactive ? draw : beat, this.interactive ? 80 : this.heartbeatMs), title, started: this.now(), estimateMs }
    this.spinner.timer.unref()
    if (this.interactive) draw()
  }

  private stopSpinner(): void {
    if (!this.spinner) return
    clearInterval(this.spinner.timer)
    if (this.interactive) this.sink.write('\r\x1b[2K')
    this.spinner = undefined
  }
}
