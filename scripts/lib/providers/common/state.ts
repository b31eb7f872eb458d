// The per-cluster state directory: what kubelab made (machines, processes, forwarded ports) so
// that `down` can remove exactly that. Written atomically (host/files.ts); a damaged file is an error
// naming it, never an empty state (which would forget machines that still run). The real world
// stays the source of truth: providers check every entry before trusting it.

import os from 'node:os'
import path from 'node:path'
import { readJsonFile, writeJsonFile } from '../../host/files.ts'

export interface MachineRecord {
  address: string
  role: 'control-plane' | 'worker'
  /** PIDs of processes kubelab started for this machine, by purpose (nspawn, forwarders, qemu). */
  pids: Record<string, number>
  /** 127.0.0.1 ports forwarded to the machine, by purpose. */
  forwards: Record<string, number>
  hostKeyFingerprint?: string
  /** The host folder bound read-only into the machine at start (nspawn: the cache it was started with). */
  share?: string
  createdAt: string
}

/** What the lab's uplink (uplink.ts) made outside the lab namespace, to remove exactly that. */
export interface UplinkRecord {
  /** The namespace of the far end; absent: the host's own. */
  netns?: string
  /** The far end's interface name. */
  peer: string
  cidr: string
  /** The comment on every rule kubelab added there. */
  comment: string
  /** IP forwarding was off there before kubelab turned it on. */
  forwardingWasOff: boolean
}

export interface ClusterState {
  cluster: string
  provider: string
  machines: Record<string, MachineRecord>
  /** Cluster-wide processes kubelab started (e.g. the rootless QEMU LAN hub), by purpose. */
  pids?: Record<string, number>
  uplink?: UplinkRecord
}

export function defaultStateRoot(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env.KUBELAB_STATE ?? path.join(env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local/state'), 'kubelab')
}

export class StateStore {
  readonly file: string

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'state.json')
  }

  read(cluster: string, provider: string): ClusterState {
    const s = readJsonFile<ClusterState>(this.file, 'what kubelab made for this cluster')
    return s ? { ...s, machines: s.machines ?? {} } : { cluster, provider, machines: {} }
  }

  write(state: ClusterState): void {
    writeJsonFile(this.file, state)
  }

  /** Read, change, write back. */
  update(cluster: string, provider: string, change: (s: ClusterState) => void): ClusterState {
    const s = this.read(cluster, provider)
    change(s)
    this.write(s)
    return s
  }
}
