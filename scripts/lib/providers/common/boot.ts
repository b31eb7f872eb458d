// "Ready" for a machine kubelab made: its sshd answers kubelab's own SSH (the Runner, host key
// pinned) and `systemctl is-system-running --wait` returns running (or degraded, logged).

import path from 'node:path'
import type { ClusterConfig } from '../../config/types.ts'
import { MachineError } from '../../errors.ts'
import type { Progress } from '../../log/progress.ts'
import { runnerFor } from '../../remote/machine.ts'
import type { Machine, MachineState, SshEndpoint } from '../types.ts'
import { hostPublicKey } from './keys.ts'
import { logTail, waitForSshBanner, type SshDial } from './process.ts'
import type { MachineRecord } from './state.ts'

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

/** Waits for sshd's banner; on failure a MachineError with the tail of the machine's console log. */
export async function waitForSsh(name: string, dial: SshDial, deadlineMs: number, o: { alive: () => boolean; log: string; exitedMessage: string }): Promise<void> {
  try {
    await waitForSshBanner(dial, Date.now() + deadlineMs)
  } catch (err) {
    const tail = logTail(o.log)
    // systemd cannot start when the host's inotify instances run out (many machines at once, as kind warns).
    const inotify = tail.some((l) => l.includes('Too many open files'))
      ? ' — the host ran out of inotify instances: sysctl -w fs.inotify.max_user_instances=1024 (persist it in /etc/sysctl.d)'
      : ''
    throw new MachineError(name, o.alive() ? `sshd did not answer within ${deadlineMs / 1000}s` : o.exitedMessage,
      tail, { cause: err, hint: `full console log: ${o.log}${inotify}` })
  }
}

/** State entries in the config's node order (machines no longer in the config last). */
export function inConfigOrder(config: ClusterConfig, machines: Readonly<Record<string, MachineRecord>>): [string, MachineRecord][] {
  const order = (n: string) => { const i = config.nodes.findIndex((x) => x.name === n); return i < 0 ? Infinity : i }
  return Object.entries(machines).sort(([a], [b]) => order(a) - order(b))
}

/** A machine kubelab made: root login with the cluster's key, the host key it generated. */
export function madeMachine(o: {
  name: string
  rec: MachineRecord
  state: MachineState
  provider: Machine['provider']
  stateDir: string
  hostKeyFile: string
  dial: Pick<SshEndpoint, 'socketPath' | 'host' | 'port'>
  share?: Machine['share']
}): Machine {
  const pub = hostPublicKey(o.hostKeyFile)
  return {
    name: o.name,
    role: o.rec.role,
    address: o.rec.address,
    state: o.state,
    provider: o.provider,
    ssh: {
      ...o.dial,
      user: 'root',
      privateKeyFile: path.join(o.stateDir, 'ssh', 'id_ed25519'),
      ...(o.rec.hostKeyFingerprint ? { hostKeyFingerprint: o.rec.hostKeyFingerprint } : {}),
      ...(pub ? { hostPublicKey: pub } : {}),
    },
    forwards: o.rec.forwards,
    ...(o.share ? { share: o.share } : {}),
  }
}
