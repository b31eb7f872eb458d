// The one top-level error reporter: what was attempted, on which node, the command as sent, the
// last lines of stderr with error-looking lines first, and a hint where the cause is known.
// Used by the CLI for human output (stderr) and for --json (an `error` object on stdout).

import {
  CommandError,
  ConfigError,
  KubelabError,
  MachineError,
  PreflightError,
  StepError,
  type ConfigIssue,
  type SourceLocation,
} from '../errors.ts'

const TAIL_LINES = 12
const ERRORISH = /\b(error|fail(ed|ure)?|fatal|denied|refused|not found|no such|invalid|unable|cannot)\b/i

export function formatLocation(loc: SourceLocation): string {
  if (loc.origin) return loc.origin
  if (!loc.file) return '(unknown location)'
  if (loc.line === undefined) return loc.file
  return `${loc.file}:${loc.line}${loc.col === undefined ? '' : `:${loc.col}`}`
}

export function formatIssue(issue: ConfigIssue): string {
  return `${formatLocation(issue.location)}  ${issue.path ? `${issue.path}: ` : ''}${issue.message}`
}

/** The last lines of a stream, error-looking lines first (in their original order). */
export function tailLines(text: string, max = TAIL_LINES): string[] {
  const lines = text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '')
  const tail = lines.slice(-max)
  const errorish = tail.filter((l) => ERRORISH.test(l))
  const rest = tail.filter((l) => !ERRORISH.test(l))
  return [...errorish, ...rest]
}

function indent(lines: readonly string[], by = '  '): string[] {
  return lines.map((l) => by + l)
}

function commandDetails(err: CommandError): string[] {
  const r = err.result
  const sent = r.command.split('\n').filter((l) => l.trim() !== '')
  const shown = sent.length > 6 ? [...sent.slice(0, 6), `... (${sent.length - 6} more lines)`] : sent
  const out = [...shown.map((l, i) => (i === 0 ? `$ ${l}` : `  ${l}`))]
  out.push(r.signal ? `killed by ${r.signal}` : `exit code ${r.exitCode}`)
  out.push(...tailLines(r.stderr || r.stdout))
  return out
}

/** What went wrong inside a failed step, appended to `lines`; returns the cause's hint. */
function stepCauseDetails(err: StepError, lines: string[]): string | undefined {
  const cause = err.cause
  if (cause instanceof CommandError) {
    lines.push(...indent(commandDetails(cause)))
    return cause.hint
  }
  if (cause instanceof KubelabError) lines.push(...indent(formatError(cause).split('\n')))
  else if (cause instanceof Error) lines.push(`  ${cause.message}`)
  else if (cause !== undefined) lines.push(`  ${String(cause)}`)
  return undefined
}

/** Human-readable report of any error, as printed on stderr by the CLI. */
export function formatError(err: unknown): string {
  if (err instanceof ConfigError) {
    const only = err.issues.length === 1 ? err.issues[0]! : undefined
    // A problem with the file as a whole (missing, a directory, binary): one line.
    if (only && !only.path && only.location.line === undefined && !only.location.origin) return `✗ ${formatLocation(only.location)}: ${only.message}`
    return [`✗ ${err.message}`, ...indent(err.issues.map(formatIssue))].join('\n')
  }
  if (!(err instanceof KubelabError)) {
    const e = err instanceof Error ? err : new Error(String(err))
    return `ERROR [ERR_INTERNAL] ${e.message}\n${indent((e.stack ?? '').split('\n').slice(1, 6)).join('\n')}`
  }
  const lines = [`ERROR [${err.code}] ${err.message}`]
  let hint = err.hint
  if (err instanceof PreflightError) {
    for (const c of err.failed) {
      lines.push(`  ✗ ${c.name}: ${c.detail}`)
      if (c.fix) lines.push(`    fix: ${c.fix}`)
    }
  } else if (err instanceof CommandError) {
    lines.push(...indent(commandDetails(err)))
  } else if (err instanceof MachineError) {
    if (err.cause instanceof Error) lines.push(`  ${err.cause.message}`)
    if (err.consoleTail.length) lines.push('  console (last lines):', ...indent(err.consoleTail, '    '))
  } else if (err instanceof StepError) {
    const causeHint = stepCauseDetails(err, lines)
    hint ??= causeHint
    for (const other of err.alsoFailed) {
      lines.push(`  also: ${other.message}`)
      const more: string[] = []
      const h = stepCauseDetails(other, more)
      lines.push(...indent(more), ...(h ? [`    hint: ${h}`] : []))
    }
  } else if (err.cause instanceof Error) {
    lines.push(`  caused by: ${err.cause.message}`)
  }
  if (hint) lines.push(`  hint: ${hint}`)
  return lines.join('\n')
}

/** The same error as data, for `--json` output. */
export function errorToJson(err: unknown): Record<string, unknown> {
  if (!(err instanceof KubelabError)) {
    return { code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) }
  }
  const base: Record<string, unknown> = { code: err.code, message: err.message }
  if (err.hint) base.hint = err.hint
  if (err instanceof ConfigError) {
    base.file = err.file
    base.issues = err.issues.map((i) => ({ ...i, where: formatLocation(i.location) }))
  } else if (err instanceof PreflightError) {
    base.target = err.target
    base.failed = err.failed
  } else if (err instanceof CommandError) {
    base.result = err.result
  } else if (err instanceof StepError) {
    base.step = err.step
    base.node = err.node
    if (err.cause !== undefined) base.cause = errorToJson(err.cause)
    if (err.alsoFailed.length > 0) base.alsoFailed = err.alsoFailed.map(errorToJson)
  }
  return base
}
