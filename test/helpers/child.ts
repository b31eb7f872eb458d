// Child processes for integration tests: spawned with stdout and stderr collected, killed by PID
// (SIGKILL) if still running when the test ends; `until` polls a condition to a deadline.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Tracked {
  child: ChildProcess
  /** Everything written to stdout so far. */
  stdout: () => string
  /** Everything written to stderr so far. */
  stderr: () => string
  /** The exit code, or the signal that ended it. */
  exited: Promise<number | string>
}

export function spawnTracked(t: { teardown: (fn: () => void) => void }, command: string, args: readonly string[], options: SpawnOptions = {}): Tracked {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL') })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** Polls `ok` every 10 ms; throws naming `what` (and `context()`, e.g. a child's stderr) after `ms`. */
export async function until(what: string, ok: () => boolean, ms: number, context: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`)
    await sleep(10)
  }
}
