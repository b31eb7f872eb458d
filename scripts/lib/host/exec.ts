// Commands on the machine kubelab runs on, through zx: quoting of interpolated values, captured
// output, and a CommandError (node "host") carrying command, exit code, stdout and stderr on failure.

import { $ as zx, type ProcessOutput } from 'zx'
import { CommandError } from '../errors.ts'

const quiet = zx({ quiet: true, nothrow: true, verbose: false })

export interface HostResult {
  stdout: string
  stderr: string
  exitCode: number | null
}

/** Runs a command on the host; throws CommandError unless it exits 0. */
export async function host(strings: TemplateStringsArray, ...values: unknown[]): Promise<HostResult> {
  const started = Date.now()
  const p = quiet(strings, ...values)
  const out: ProcessOutput = await p
  const result = { stdout: out.stdout, stderr: out.stderr, exitCode: out.exitCode }
  if (out.exitCode !== 0) {
    throw new CommandError({
      node: 'host',
      command: p.cmd,
      exitCode: out.exitCode,
      signal: out.signal ?? null,
      stdout: out.stdout,
      stderr: out.stderr,
      durationMs: Date.now() - started,
    })
  }
  return result
}

/** Runs a command on the host and reports only whether it exited 0 (for probes). */
export async function hostOk(strings: TemplateStringsArray, ...values: unknown[]): Promise<boolean> {
  const out = await quiet(strings, ...values)
  return out.exitCode === 0
}
