// What the lifecycle operations share: kubectl on the live control plane (over SSH, as steps do),
// the versions the cluster runs, and a converge context for some nodes (the same inputs `up`
// prepares: verified binaries, sandbox image, PKI), with the pipeline narrowed to one node.

import { resolveArtifacts } from '../artifacts/resolve.ts'
import type { ClusterConfig } from '../config/types.ts'
import type { Progress } from '../log/progress.ts'
import type { Machine, Provider } from '../providers/types.ts'
import { runnerFor } from '../remote/machine.ts'
import type { Result, Runner } from '../remote/runner.ts'
import { ADMIN_CONF } from '../steps/kubectl.ts'
import { localImages, managedPki, pkiDir } from '../steps/inputs.ts'
import { closeNodes, openNodes } from '../steps/nodes.ts'
import type { NodeHandle, Step, StepContext } from '../steps/types.ts'

export interface Cluster {
  readonly config: ClusterConfig
  readonly provider: Provider
  readonly stateDir: string
  readonly cacheDir: string
  readonly progress: Progress
}

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
    run: (args, o = {}) => runner.$({ ...(o.nothrow ? { nothrow: true } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) })`/usr/local/bin/kubectl --kubeconfig ${ADMIN_CONF} ${args}`,
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
    const artifacts = await progress.step(`Resolving verified binaries for Kubernetes ${config.kubernetes.version}`, () => resolveArtifacts(config, { progress }), (a) => `${a.length} files`)
    const images = await localImages(c.cacheDir, artifacts, progress)
    const pki = (await managedPki(pkiDir(stateDir), config))?.bundle
    const ctx: StepContext = { config, nodes, artifacts, images, ...(pki ? { pki } : {}), progress, stateDir, shared: {} }
    return { ctx, close: () => closeNodes(nodes) }
  } catch (err) {
    closeNodes(nodes)
    throw err
  }
}

/** The steps narrowed to one node: every other node reads as converged (nothing runs there). */
export function onlyOn(steps: readonly Step[], node: string): Step[] {
  const mine = (n: NodeHandle) => n.spec.name === node
  return steps.map((s) => ({
    ...s,
    check: (ctx: StepContext, n: NodeHandle) => (mine(n) ? s.check(ctx, n) : Promise.resolve(true)),
    apply: (ctx: StepContext, n: NodeHandle) => (mine(n) ? s.apply(ctx, n) : Promise.resolve()),
  }))
}
