// "Ready" for a machine kubelab made: its sshd answers kubelab's own SSH (the Runner, host key
// pinned) and `systemctl is-system-running --wait` returns running (or degraded, logged).

import { MachineError } from '../../errors.ts'
import type { Progress } from '../../log/progress.ts'
import { runnerFor } from '../../remote/machine.ts'
import type { Machine } from '../types.ts'

export async function waitBooted(
  machine: Machine,
  stateDir: string,
  progress: Progress,
  deadlineMs: number,
  consoleTail: () => string[],
): Promise<void> {
  const runner = await runnerFor(machine, stateDir, { progress, connect: { deadlineMs } })
  try {
    const r = await runner.$({ nothrow: true, timeoutMs: deadlineMs })`systemctl is-system-running --wait`
    const state = r.stdout.trim()
    if (state !== 'running' && state !== 'degraded') {
      throw new MachineError(machine.name, `systemd did not finish booting: ${state || r.stderr.trim()}`, consoleTail())
    }
    if (state === 'degraded') {
      const failed = (await runner.$`systemctl --failed --no-legend --plain | cut -d' ' -f1`).stdout.trim().split('\n').join(', ')
      progress.debug(1, `${machine.name}: booted degraded (failed units: ${failed})`)
    }
  } catch (err) {
    if (err instanceof MachineError) throw err
    throw new MachineError(machine.name, 'did not become reachable over SSH', consoleTail(), { cause: err })
  } finally {
    runner.close()
  }
}
