// The error vocabulary. Every failure kubelab reports is one of these classes, each with a stable
// code (for tests and --json) and, where there is one, the cause chain. The top-level reporter
// (log/report.ts) turns them into text; nothing else formats errors.

import { redactSecrets } from './logs/redact.ts'

export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_PREFLIGHT'
  | 'ERR_COMMAND'
  | 'ERR_STEP'
  | 'ERR_TEMPLATE'
  | 'ERR_USAGE'
  | 'ERR_NOT_IMPLEMENTED'
  | 'ERR_ARTIFACT'
  | 'ERR_LOCKED'
  | 'ERR_MACHINE'
  | 'ERR_SSH'
  | 'ERR_JOIN'
  | 'ERR_STATE'
  | 'ERR_NOT_MADE'

export abstract class KubelabError extends Error {
  abstract readonly code: ErrorCode
  /** A one-line suggestion shown under the error, where the cause is known. */
  hint?: string

  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    if (options?.hint) this.hint = options.hint
  }
}

/** Where a config problem is: a file position, or the environment variable / flag that set it. */
export interface SourceLocation {
  file?: string
  line?: number
  col?: number
  /** For values that came from outside the file, e.g. "KUBELAB_PROVIDER (environment)". */
  origin?: string
}

export interface ConfigIssue {
  /** Dotted path with indexes, e.g. `nodes[1].role`; empty for the document itself. */
  path: string
  message: string
  location: SourceLocation
}

/** The config is invalid. Carries EVERY problem found, not just the first. */
export class ConfigError extends KubelabError {
  readonly code = 'ERR_CONFIG'
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(`${file} has ${issues.length} problem${issues.length === 1 ? '' : 's'}`)
  }
}

export interface PreflightCheck {
  name: string
  ok: boolean
  detail: string
  /** The one-line fix for a failed check. */
  fix?: string
  /** Debian/Ubuntu packages that fix it (host/deps.ts: one install command for all, `--install-deps`). */
  packages?: readonly string[]
}

/** A requirement of the host or a machine is not met; nothing was changed. */
export class PreflightError extends KubelabError {
  readonly code = 'ERR_PREFLIGHT'
  constructor(
    readonly target: string,
    readonly failed: readonly PreflightCheck[],
  ) {
    super(`preflight failed on ${target}: ${failed.map((c) => c.name).join(', ')}`)
    const packages = missingPackages(failed)
    if (packages.length) this.hint = `install them all: ${installCommand(packages)} (or: npx kubelab up --install-deps)`
  }
}

/** The packages the failed checks name, each once, in order. */
export function missingPackages(checks: readonly PreflightCheck[]): string[] {
  return [...new Set(checks.filter((c) => !c.ok).flatMap((c) => c.packages ?? []))]
}

/** The one command that installs `packages` on Debian/Ubuntu. */
export function installCommand(packages: readonly string[]): string {
  return `apt-get install -y --no-install-recommends ${packages.join(' ')}`
}

export interface CommandResult {
  node: string
  /** The command or script exactly as sent. */
  command: string
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  durationMs: number
}

/**
 * A command on a node (or the host) exited non-zero, was killed, or timed out. The result it keeps
 * has its secrets redacted (logs/redact.ts: keys, tokens, files inlined in the script), so no
 * report of it, text or --json, can print them.
 */
export class CommandError extends KubelabError {
  readonly code = 'ERR_COMMAND'
  readonly result: CommandResult
  constructor(
    result: CommandResult,
    options?: { cause?: unknown; hint?: string; reason?: string },
  ) {
    const how = options?.reason
      ?? (result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode}`)
    super(`command failed on ${result.node} (${how})`, options)
    this.result = { ...result, command: redactSecrets(result.command), stdout: redactSecrets(result.stdout), stderr: redactSecrets(result.stderr) }
  }
}

/** A converge step failed on a node; `cause` holds what went wrong inside it. */
export class StepError extends KubelabError {
  readonly code = 'ERR_STEP'
  /** Other (step, node) pairs that failed in the same run (the runner reports every failure). */
  alsoFailed: readonly StepError[] = []
  constructor(
    readonly step: string,
    readonly node: string,
    cause: unknown,
    options?: { hint?: string; address?: string },
  ) {
    const where = options?.address ? `${node} (${options.address})` : node
    super(`${step} failed on ${where}`, { cause, hint: options?.hint })
  }
}

/** A template could not be rendered: unknown or missing placeholders, unknown template. */
export class TemplateError extends KubelabError {
  readonly code = 'ERR_TEMPLATE'
}

/** The command line is wrong (unknown command or flag, missing argument). */
export class UsageError extends KubelabError {
  readonly code = 'ERR_USAGE'
}

/** The command exists in the CLI but the work behind it has not landed yet. */
export class NotImplementedError extends KubelabError {
  readonly code = 'ERR_NOT_IMPLEMENTED'
  constructor(readonly command: string, readonly issue: string) {
    super(`kubelab ${command}: not implemented yet (${issue})`)
  }
}

/** Another kubelab process holds the lock of this cluster (or of a cache entry being built). */
export class LockedError extends KubelabError {
  readonly code = 'ERR_LOCKED'
  constructor(readonly lockFile: string, readonly holder: string) {
    super(`${holder} is already running (lock ${lockFile})`, {
      hint: 'wait for it to finish; if no such process exists the lock is removed automatically on the next run',
    })
  }
}

/** A machine could not be created, booted or reached; carries the tail of its console log. */
export class MachineError extends KubelabError {
  readonly code = 'ERR_MACHINE'
  constructor(readonly machine: string, message: string, readonly consoleTail: readonly string[] = [], options?: { cause?: unknown; hint?: string }) {
    super(`${machine}: ${message}`, options)
  }
}

/**
 * An artifact could not be made available or failed verification: a bad lock, a download that
 * failed after retries, a sha256 mismatch (expected vs actual), a failed build, a broken bundle.
 */
export class ArtifactError extends KubelabError {
  readonly code = 'ERR_ARTIFACT'
  constructor(
    message: string,
    readonly details: { component?: string; file?: string; url?: string; expected?: string; actual?: string } = {},
    options?: { cause?: unknown; hint?: string },
  ) {
    super(message, options)
  }
}

/** Something the config needs is not in the cache, and the caller (`plan`, `status`) may not make it. */
export interface WouldMake {
  /** `kubernetes v1.35.4`, `the testbox image`. */
  readonly what: string
  readonly how: 'build' | 'download' | 'download or build' | 'fetch from the mirror' | 'unpack the bundle'
  /** How long it took the last time it was made here; undefined when unknown. */
  readonly estimateMs?: number | undefined
  /** The build.sh component that makes it, where a build would. */
  readonly build?: string
}

/** A read-only caller met artifacts or images it would have to make: what, how, and about how long. */
export class NotMadeError extends KubelabError {
  readonly code = 'ERR_NOT_MADE'
  constructor(readonly missing: readonly WouldMake[]) {
    super(`not in the cache yet: ${missing.map(describeWouldMake).join('; ')}`, { hint: 'npx kubelab up makes them (or: kubelab artifacts fetch)' })
  }
}

/** `would build kubernetes v1.35.4 (about 6m10s)` */
export function describeWouldMake(m: WouldMake): string {
  const about = m.estimateMs === undefined ? '' : ` (about ${m.estimateMs < 60_000 ? `${Math.max(1, Math.round(m.estimateMs / 1000))} s` : `${Math.round(m.estimateMs / 60_000)} min`})`
  return `would ${m.how} ${m.what}${about}`
}

/** A worker cannot join: the control plane is unreachable, its CA does not match the pin, or the token is refused. */
export class JoinError extends KubelabError {
  readonly code = 'ERR_JOIN'
}

/**
 * A file kubelab keeps on this host (cluster state, remembered allocations, the join token, pinned
 * host keys) cannot be read: truncated by a crash, edited by hand, unreadable. Nothing is re-derived
 * in its place: the file is named so the user can restore or remove it knowingly.
 */
export class StateError extends KubelabError {
  readonly code = 'ERR_STATE'
  constructor(readonly file: string, readonly what: string, reason: string, options?: { cause?: unknown; hint?: string }) {
    super(`${file} (${what}) is damaged: ${reason}`, {
      ...options,
      hint: options?.hint ?? `restore it from a backup, or remove it if you accept losing ${what}`,
    })
  }
}
