// What the lifecycle operations share: kubectl on the live control plane (over SSH, as steps do),
// the versions the cluster runs, and a converge context (the same inputs `up` prepares: verified
// binaries, local images, PKI, join token).

import type { Cluster as OpenedCluster } from '../cluster.ts'
import type { Machine } from '../providers/types.ts'
import { runnerFor } from '../remote/machine.ts'
import type { Result, Runner } from '../remote/types.ts'
import { stepInputs } from '../converge/inputs.ts'
import type { StepContext } from '../converge/step.ts'
import { closeNodes, openNodes } from '../node/open.ts'
import { ADMIN_CONF, adminKubectl } from '../node/paths.ts'

/** What lifecycle operations need of an opened cluster (lib/cluster.ts). */
export type Cluster = Pick<OpenedCluster, 'config' | 'provider' | 'stateDir' | 'cacheDir' | 'progress'>

/** kubectl with the admin kubeconfig on the control-plane node. */
export interface Kube {
  run(args: readonly string[], o?: { nothrow?: boolean; timeoutMs?: number }): Promise<Result>
  close(): void
}

export interface NodeInfo {
  name: string
  version: string
  ready: boolean
  unschedulable: boolean
}

/** kubectl on the running control-plane machine; undefined when there is none (cluster not up). */
export async function liveKube(c: Cluster, machines: readonly Machine[]): Promise<Kube | undefined> {
  const cp = machines.find((m) => m.role === 'control-plane' && m.state === 'running')
  if (!cp || c.config.controlPlane.mode !== 'managed') return undefined
  const runner: Runner = await runnerFor(cp, c.stateDir, { config: c.config, progress: c.progress })
  if (!(await runner.test`test -s ${ADMIN_CONF}`)) { runner.close(); return undefined }
  return {
    run: (args, o = {}) => runner.$({ ...(o.nothrow ? { nothrow: true } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) })`${adminKubectl(args)}`,
    close: () => runner.close(),
  }
}

export async function nodeInfos(kube: Kube): Promise<NodeInfo[]> {
  const r = await kube.run(['get', 'nodes', '-o', 'json'])
  const items = (JSON.parse(r.stdout) as { items: { metadata: { name: string }; spec?: { unschedulable?: boolean }; status: { nodeInfo: { kubeletVersion: string }; conditions?: { type: string; status: string }[] } }[] }).items
  return items.map((i) => ({
    name: i.metadata.name,
    version: i.status.nodeInfo.kubeletVersion,
    ready: i.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    unschedulable: i.spec?.unschedulable ?? false,
  }))
}

export async function apiserverVersion(kube: Kube): Promise<string> {
  const r = await kube.run(['version', '-o', 'json'])
  return (JSON.parse(r.stdout) as { serverVersion?: { gitVersion?: string } }).serverVersion?.gitVersion ?? ''
}

/** Everything the converge steps need, for the config's nodes (all must be running). */
export async function convergeContext(c: Cluster, machines: readonly Machine[]): Promise<{ ctx: StepContext; close(): void }> {
  const { config, progress, stateDir } = c
  const nodes = await openNodes(config, machines, stateDir, progress)
  try {
    const inputs = await stepInputs({ config, stateDir, cacheDir: c.cacheDir, progress, phase: (_name, title, fn, detail) => progress.step(title, fn, detail) })
    const ctx: StepContext = { config, nodes, ...inputs, progress, stateDir }
    return { ctx, close: () => closeNodes(nodes) }
  } catch (err) {
    closeNodes(nodes)
    throw err
  }
}
