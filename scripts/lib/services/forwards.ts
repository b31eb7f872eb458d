// LoadBalancer Services on the host's 127.0.0.1: the service forwarder (forwarder.mjs) of a
// cluster, started or kept by `up` while addons.loadBalancer is on and the machines sit in a lab
// namespace kubelab made, stopped by `down` (and by `up` when the addon is turned off). Its
// record is STATE_DIR/services/: forwarder.json (its settings), forwarder.pid, services.json
// (what it forwards, read by `kubelab status`), forwarder.log.

import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { hostKubectlSetup, type Cluster } from '../cluster.ts'
import { addonEnabled } from '../config/types.ts'
import { readJsonFile, writeJsonFile } from '../host/files.ts'
import { packagePath } from '../host/package.ts'
import { labNames } from '../providers/common/network.ts'
import { processMatches, spawnDetached, stopProcess } from '../providers/common/process.ts'

const FORWARDER = packagePath('scripts/lib/services/forwarder.mjs')

/** One forwarded port, as `status --json` lists it. */
export interface ServiceForward {
  readonly namespace: string
  readonly name: string
  readonly port: number
  /** The Service's LoadBalancer address in the lab network. */
  readonly address: string
  /** Where the host reaches it: `127.0.0.1:PORT`. */
  readonly hostAddress: string
}

export interface ServicesStatus {
  readonly pid: number
  readonly updatedAt: string
  readonly services: readonly ServiceForward[]
  /** The last read of the Services failed (forwards stay as they were). */
  readonly error?: string
}

const dirOf = (stateDir: string) => path.join(stateDir, 'services')
const pidFile = (stateDir: string) => path.join(dirOf(stateDir), 'forwarder.pid')

function runningPid(stateDir: string): number | undefined {
  const file = pidFile(stateDir)
  const pid = existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined
  return pid && processMatches(pid, 'forwarder.mjs', stateDir) ? pid : undefined
}

/** Whether this cluster's Services are forwarded to the host: the addon on, machines in kubelab's lab namespace. */
export function forwardsServices(c: Pick<Cluster, 'config' | 'provider'>): boolean {
  return addonEnabled(c.config, 'loadBalancer') && c.config.controlPlane.mode === 'managed' && c.provider.info().labNetwork
}

/**
 * Starts the forwarder unless it runs with the same settings; stops it where Services are not
 * forwarded. Resolves once it has written its first services.json.
 */
export async function ensureServiceForwards(c: Cluster): Promise<void> {
  const { stateDir } = c
  if (!forwardsServices(c)) return stopServiceForwards(stateDir)
  const { kubectl, kubeconfig } = await hostKubectlSetup(c)
  // The script's own hash too: a kubelab with a changed forwarder restarts it.
  const script = createHash('sha256').update(readFileSync(FORWARDER)).digest('hex').slice(0, 12)
  const settings = { kubectl, kubeconfig, netns: labNames(c.config.name).lab, pool: c.config.addons.loadBalancer.addresses!, script }
  const dir = dirOf(stateDir)
  const file = path.join(dir, 'forwarder.json')
  const same = existsSync(file) && JSON.stringify(readJsonFile(file, 'the service forwarder\'s settings')) === JSON.stringify(settings)
  if (same && runningPid(stateDir)) return
  await stopServiceForwards(stateDir)
  mkdirSync(dir, { recursive: true })
  writeJsonFile(file, settings, { mode: 0o600 })
  const status = path.join(dir, 'services.json')
  rmSync(status, { force: true })
  const pid = spawnDetached(process.execPath, [FORWARDER, stateDir], path.join(dir, 'forwarder.log'))
  writeJsonFile(pidFile(stateDir), pid)
  const deadline = Date.now() + 30_000
  while (!existsSync(status)) {
    if (!processMatches(pid, 'forwarder.mjs')) throw new Error(`the service forwarder ended at once; see ${path.join(dir, 'forwarder.log')}`)
    if (Date.now() > deadline) throw new Error(`the service forwarder wrote no ${status} in 30 s; see ${path.join(dir, 'forwarder.log')}`)
    await sleep(100)
  }
}

/** Stops the forwarder (if it runs) and removes its record. */
export async function stopServiceForwards(stateDir: string): Promise<void> {
  const pid = runningPid(stateDir)
  if (pid) await stopProcess(pid, ['forwarder.mjs', stateDir], 3_000)
  rmSync(dirOf(stateDir), { recursive: true, force: true })
}

/** What the running forwarder forwards; undefined when none runs. */
export function readServiceForwards(stateDir: string): ServicesStatus | undefined {
  const file = path.join(dirOf(stateDir), 'services.json')
  if (!runningPid(stateDir) || !existsSync(file)) return undefined
  return readJsonFile<ServicesStatus>(file, 'the service forwarder\'s status')
}
