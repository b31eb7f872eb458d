// `kubelab version` (kubelab's own version and the Kubernetes versions its lock supports) and
// `kubelab clusters` (every cluster this host keeps state for, whatever its config file), as
// `kind version` / `kind get clusters` and `k3d cluster list` answer them. Both read only.

import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { DEFAULT_LOCK_FILE, loadLock } from '../lib/artifacts/lock.ts'
import { packagePath } from '../lib/host/package.ts'
import { processMatches } from '../lib/providers/common/process.ts'
import { defaultStateRoot, type ClusterState } from '../lib/providers/common/state.ts'
import { DEFAULT_KUBERNETES_VERSION } from '../lib/versions.ts'
import { printJson, table, type CommandContext } from './context.ts'

export function versionCommand(ctx: CommandContext): number {
  const version = (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version
  const kubernetes = loadLock(DEFAULT_LOCK_FILE).minors.map((m) => m.kubernetes).sort()
  if (ctx.options.json) printJson(ctx, { kubelab: version, kubernetes: { supported: kubernetes, default: DEFAULT_KUBERNETES_VERSION }, packageRoot: packagePath() })
  else ctx.out(`kubelab ${version}\nKubernetes: ${kubernetes.join(', ')} (default ${DEFAULT_KUBERNETES_VERSION})`)
  return 0
}

export interface ClusterRow {
  readonly name: string
  readonly provider: string
  readonly nodes: number
  /** running: every machine's main process is alive; stopped: none is; partial: some; hosts: machines kubelab did not make (ssh). */
  readonly state: 'running' | 'stopped' | 'partial' | 'hosts'
  readonly stateDir: string
}


/** Each cluster under the state root (a directory with a state.json), by name. */
export function listClusters(root: string): ClusterRow[] {
  if (!existsSync(root)) return []
  return readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(path.join(root, d.name, 'state.json'))).map((d) => {
    const stateDir = path.join(root, d.name)
    const s = JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as ClusterState
    const machines = Object.values(s.machines ?? {})
    // The machine's own process, by PID and command line (a zombie or a reused PID is not it).
    const main = machines.map((m) => (m.pids?.nspawn ? [m.pids.nspawn, 'systemd-nspawn'] as const : m.pids?.qemu ? [m.pids.qemu, 'qemu-system'] as const : undefined))
    const up = main.filter((x) => x && processMatches(x[0], x[1])).length
    const state = main.every((p) => p === undefined) ? 'hosts' : up === machines.length ? 'running' : up === 0 ? 'stopped' : 'partial'
    return { name: s.cluster ?? d.name, provider: s.provider, nodes: machines.length, state, stateDir } as ClusterRow
  }).sort((a, b) => a.name.localeCompare(b.name))
}

export function clustersCommand(ctx: CommandContext): number {
  const rows = listClusters(defaultStateRoot(ctx.env))
  if (ctx.options.json) printJson(ctx, { clusters: rows })
  else if (rows.length === 0) ctx.progress.info(`no clusters on this host (state under ${defaultStateRoot(ctx.env)})`)
  else ctx.out(table([['NAME', 'PROVIDER', 'NODES', 'STATE'], ...rows.map((r) => [r.name, r.provider, String(r.nodes), r.state])]))
  return 0
}
