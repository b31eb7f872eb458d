// Ports of a machine made reachable from the host without dialling any lab address from the host's
// namespace: a forwarder inside the lab (or node) namespace listens on a UNIX socket in the
// machine's folder and connects to the port there; a second one on the host's loopback
// (127.0.0.1:P) leads to that socket, for the user (ssh -p, kubectl). kubelab itself uses the socket.

import path from 'node:path'
import { freePort, processMatches, spawnDetached, stopProcess } from './process.ts'
import type { NodeSpec } from '../../config/types.ts'
import { LOCAL_REGISTRY_NODE_PORT } from '../../templates/files.ts'

export interface ForwardSpec {
  /** Purpose: `ssh`, `apiserver`. */
  readonly name: string
  /** The port on the machine. */
  readonly port: number
  /** A fixed 127.0.0.1 port (the local registry's localhost:PORT); others take a free one. */
  readonly hostPort?: number
}

/**
 * What each node exposes: sshd everywhere, the API server on the control plane, with
 * addons.registry the local registry (node port 5000) on the control plane at 127.0.0.1:PORT, and
 * the node's own `portMappings` (127.0.0.1:hostPort to its port, like kind's extraPortMappings).
 */
export function forwardsFor(node: Pick<NodeSpec, 'role'> & Partial<Pick<NodeSpec, 'portMappings'>>, registry?: { readonly enabled: boolean; readonly port: number }): ForwardSpec[] {
  const mapped = (node.portMappings ?? []).map((m) => ({ name: `port-${m.hostPort}`, port: m.port, hostPort: m.hostPort }))
  if (node.role !== 'control-plane') return [{ name: 'ssh', port: 22 }, ...mapped]
  return [
    { name: 'ssh', port: 22 },
    { name: 'apiserver', port: 6443 },
    ...(registry?.enabled ? [{ name: 'registry', port: LOCAL_REGISTRY_NODE_PORT, hostPort: registry.port }] : []),
    ...mapped,
  ]
}

export const socketPath = (dir: string, name: string) => path.join(dir, `${name}.sock`)

/** Where the inner forwarder runs and what it dials: a namespace and an address in it. */
export interface Inside {
  readonly netns: string
  readonly host: string
}

export interface Forwards {
  pids: Record<string, number>
  ports: Record<string, number>
}

export async function startForwards(dir: string, inside: Inside, specs: readonly ForwardSpec[], previous: Readonly<Record<string, number>> = {}): Promise<Forwards> {
  const out: Forwards = { pids: {}, ports: {} }
  const log = path.join(dir, 'forward.log')
  for (const f of specs) {
    const sock = socketPath(dir, f.name)
    out.pids[`socket:${f.name}`] = spawnDetached('ip', ['netns', 'exec', inside.netns, 'socat',
      `UNIX-LISTEN:${sock},fork,unlink-early,mode=600`, `TCP:${inside.host}:${f.port}`], log)
    const port = await freePort(f.hostPort ?? previous[f.name])
    if (f.hostPort !== undefined && port !== f.hostPort) {
      throw new Error(`127.0.0.1:${f.hostPort} (the ${f.name} forward) is taken by another program; free it or choose another port in the config`)
    }
    out.ports[f.name] = port
    out.pids[`loopback:${f.name}`] = spawnDetached('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${sock}`], log)
  }
  return out
}

/** Forwards recorded in `pids` that `specs` no longer name (a port mapping removed from the config). */
export function leftoverForwards(pids: Readonly<Record<string, number>>, specs: readonly ForwardSpec[]): string[] {
  const names = new Set(specs.map((f) => f.name))
  return [...new Set(Object.keys(pids).filter((k) => /^(socket|loopback):/.test(k)).map((k) => k.slice(k.indexOf(':') + 1)))].filter((n) => !names.has(n))
}

/** Exactly `specs` are forwarded (none missing or dead, none left over from a removed mapping). */
export function forwardsRunning(dir: string, pids: Readonly<Record<string, number>>, specs: readonly ForwardSpec[]): boolean {
  return leftoverForwards(pids, specs).length === 0 && specs.every((f) => processMatches(pids[`socket:${f.name}`], 'socat', socketPath(dir, f.name))
    && processMatches(pids[`loopback:${f.name}`], 'socat', socketPath(dir, f.name)))
}

export async function stopForwards(dir: string, pids: Readonly<Record<string, number>>): Promise<void> {
  for (const [key, pid] of Object.entries(pids)) {
    const [kind, name] = key.split(':')
    if ((kind === 'socket' || kind === 'loopback') && name) await stopProcess(pid, ['socat', socketPath(dir, name)], 2_000)
  }
}
