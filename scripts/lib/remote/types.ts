// The Runner contract: everything kubelab does on one node. The real one is SshRunner (runner.ts,
// over a pooled ssh2 connection); unit tests use a fake (test/helpers/fake-runner.ts). Steps, checks
// and bundles only ever see this interface.

import { CommandError, type CommandResult } from '../errors.ts'
import { buildScript } from './quote.ts'

export interface RunOptions {
  sudo?: boolean
  timeoutMs?: number
  /** Resolve with the result instead of throwing on a non-zero exit (timeouts still throw). */
  nothrow?: boolean
}

export interface Result extends CommandResult {
  exitCode: number
  ok: boolean
}

/** zx-style: `await runner.$\`systemctl restart ${unit}\``, or `runner.$({ nothrow: true })\`...\``. */
export interface Dollar {
  (strings: TemplateStringsArray, ...values: unknown[]): Promise<Result>
  (options: RunOptions): Dollar
}

export interface UploadOptions {
  mode?: number
  owner?: string
  sudo?: boolean
}

export interface FileToWrite {
  path: string
  content: string | Buffer
  mode?: number
  owner?: string
}

export interface Runner {
  /** The node's name: in every result and error. */
  readonly node: string
  /** Interpolated values are quoted; the script runs with `set -euo pipefail`. */
  readonly $: Dollar
  /** Check-style probe: exit 0 is true, exit 1 false, anything else throws a CommandError. */
  test(strings: TemplateStringsArray, ...values: unknown[]): Promise<boolean>
  testScript(script: string, options?: RunOptions): Promise<boolean>
  /** Runs a script (already quoted). Throws CommandError on a non-zero exit unless `nothrow`. */
  run(script: string, options?: RunOptions): Promise<Result>
  /** Writes a file atomically (temp file in the same directory, then rename), creating parent dirs. */
  writeFile(path: string, content: string | Buffer, mode?: number, owner?: string, options?: RunOptions): Promise<void>
  /** Several small files in as few round trips as possible, each atomically. */
  writeFiles(files: readonly FileToWrite[], options?: RunOptions): Promise<void>
  /** Puts a local file at `remotePath` unless the node already has `sha256` there ('skipped'); verified. */
  upload(localFile: string, remotePath: string, sha256: string, options?: UploadOptions): Promise<'skipped' | 'sent'>
  /**
   * Where the node reads `localFile` in place, when it lies in the host folder shared read-only
   * into the machine (nspawn's cache bind); undefined elsewhere (then upload it).
   */
  sharedPath?(localFile: string): string | undefined
  /** Ends every session and the connection; the Runner cannot be used afterwards. */
  close(): void
}

const isTemplate = (v: unknown): v is TemplateStringsArray => Array.isArray(v) && 'raw' in v

/** The `$` of a Runner, built on its `run` (shared by every implementation). */
export function dollarFor(run: (script: string, options: RunOptions) => Promise<Result>): Dollar {
  const make = (opts: RunOptions): Dollar =>
    ((first: TemplateStringsArray | RunOptions, ...values: unknown[]) =>
      isTemplate(first) ? run(buildScript(first, values), opts) : make({ ...opts, ...first })) as Dollar
  return make({})
}

/** `test` semantics over a result: 0 true, 1 false, anything else a CommandError. */
export async function testResult(result: Promise<Result>, hint?: (r: Result) => string | undefined): Promise<boolean> {
  const r = await result
  if (r.exitCode === 0) return true
  if (r.exitCode === 1) return false
  const h = hint?.(r)
  throw new CommandError(r, h ? { hint: h } : undefined)
}
