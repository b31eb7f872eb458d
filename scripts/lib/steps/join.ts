// join:node — the node's TLS bootstrap, watched as named phases: kubelet's client CSR approved
// (by the controller-manager, through the bootstrap RBAC), the Node registered, and its serving
// certificate: kubelet asks for one (serverTLSBootstrap) and kubelab approves it only when it names
// exactly this node (pki/serving-csr.ts: its name, its address; else denied and the step fails), so logs, exec and port-forward verify the kubelet. node:ready — the Node reports Ready.
// With an external control plane the node watches itself with its own credentials (node-api.ts)
// and leaves the serving CSR to that control plane's operator (a warning says so).

import type { Step, StepContext } from '../converge/step.ts'
import { waitFor } from '../converge/wait.ts'
import { nodeApi } from '../node/api.ts'
import { JoinError } from '../errors.ts'
import { apiGet } from '../node/cluster-api.ts'
import { kubectl } from '../node/kubectl.ts'
import { hasJoined } from '../node/joined.ts'
import { KUBELET_SERVING_CERT as SERVING_CERT } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'
import { servingCsrRefusal } from '../pki/serving-csr.ts'

interface Csr {
  metadata: { name: string }
  spec: { signerName: string; username: string; request: string; usages?: string[] }
  status?: { conditions?: { type: string }[] }
}

/** This node's pending serving CSRs, split into those that name exactly the node and those that do not (with why). */
async function pendingServingCsrs(ctx: StepContext, node: NodeHandle): Promise<{ approve: string[]; refuse: { name: string; why: string }[] }> {
  const r = await kubectl(ctx.nodes, ['get', 'csr', '-o', 'json'])
  const items = (JSON.parse(r.stdout) as { items: Csr[] }).items
  const mine = items.filter((c) => c.spec.signerName === 'kubernetes.io/kubelet-serving'
    && c.spec.username === `system:node:${node.spec.name}`
    && !(c.status?.conditions ?? []).length)
  const out: { approve: string[]; refuse: { name: string; why: string }[] } = { approve: [], refuse: [] }
  for (const c of mine) {
    const why = servingCsrRefusal({ request: c.spec.request, username: c.spec.username, ...(c.spec.usages ? { usages: c.spec.usages } : {}) }, node.spec)
    if (why) out.refuse.push({ name: c.metadata.name, why })
    else out.approve.push(c.metadata.name)
  }
  return out
}

interface NodeObject {
  metadata: { labels?: Record<string, string> }
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] }
}

/** The Node object: as the admin of the managed control plane, or (external) with the node's own credentials. */
async function nodeObject(ctx: StepContext, node: NodeHandle): Promise<NodeObject | undefined> {
  const cp = ctx.config.controlPlane
  if (cp.mode === 'external') {
    const r = await nodeApi(node, cp.endpoint, { kind: 'node' }, 'GET', `/api/v1/nodes/${node.spec.name}`)
    return r.status === 200 ? JSON.parse(r.body) as NodeObject : undefined
  }
  const r = await apiGet(ctx, `/api/v1/nodes/${encodeURIComponent(node.spec.name)}`)
  return r.status === 200 ? JSON.parse(r.body) as NodeObject : undefined
}

const hasClientCert = hasJoined

/**
 * `kubectl label` for the node's role and config labels: flags first, then `--`, so no key or
 * value can be read as a flag (validation refuses such keys too; this holds without it).
 */
export function labelArgs(node: { name: string; role: string; labels: Readonly<Record<string, string>> }): string[] {
  const labels = { [`node-role.kubernetes.io/${node.role}`]: '', ...node.labels }
  return ['label', '--overwrite', '--', 'node', node.name, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)]
}

/**
 * How long each join phase may take. Generous on purpose: a wait ends as soon as its phase is done,
 * and under QEMU's software emulation (TCG) kubelet alone needs minutes to register its Node.
 */
const JOIN_WAIT_MS = 300_000

/** A join phase's wait: the live reason on the progress line, cancelled when another node fails. */
const wait = (ctx: StepContext, node: NodeHandle, what: string, probe: () => Promise<string | undefined>) =>
  waitFor(what, { timeoutMs: JOIN_WAIT_MS, ...(ctx.signal ? { signal: ctx.signal } : {}), onReason: (r) => ctx.progress.status(`${node.spec.name}: ${r}`) }, probe)

export const joinNode: Step = {
  id: 'join:node',
  title: 'Joining the node (client CSR signed, Node registered)',
  on: 'all',
  after: ['kubelet:config'],
  async check(ctx, node) {
    if (!(await hasClientCert(node))) return false
    const external = ctx.config.controlPlane.mode === 'external'
    const obj = await nodeObject(ctx, node)
    if (!obj) return false
    if (external) return true
    const have = obj.metadata.labels ?? {}
    const want = { [`node-role.kubernetes.io/${node.spec.role}`]: '', ...node.spec.labels }
    return Object.entries(want).every(([k, v]) => have[k] === v)
  },
  async apply(ctx, node) {
    await wait(ctx, node, `${node.spec.name}'s client certificate (CSR approved)`, async () =>
      (await hasClientCert(node)) ? undefined : 'kubelet has no client certificate yet (CSR pending or not created)')
    await wait(ctx, node, `Node ${node.spec.name} to register`, async () => ((await nodeObject(ctx, node)) ? undefined : 'no Node object yet'))
    if (ctx.config.controlPlane.mode === 'external') {
      if (Object.keys(node.spec.labels).length) {
        ctx.progress.warn(`${node.spec.name}: labels from the config are not applied with an external control plane (NodeRestriction; kubelab holds no admin rights there)`)
      }
      if (!(await node.runner.test`test -s ${SERVING_CERT}`)) {
        ctx.progress.warn(`${node.spec.name}: kubelet's serving certificate waits for approval on the control plane (kubectl get csr; kubectl certificate approve NAME) — logs/exec/port-forward to this node need it`)
      }
      return
    }
    // Role and config labels: kubelet may not set node-role labels on itself (NodeRestriction).
    await kubectl(ctx.nodes, labelArgs(node.spec))
  },
}

export const joinServingCert: Step = {
  id: 'join:serving-cert',
  title: 'Approving kubelet serving certificates',
  on: 'all',
  // External: the serving certificate is the control plane's to approve (kubelab has no rights there; join:node warns).
  when: (config) => config.controlPlane.mode === 'managed',
  after: ['join:node'],
  check: (_ctx, node) => node.runner.test`test -s ${SERVING_CERT}`,
  async apply(ctx, node) {
    await wait(ctx, node, `${node.spec.name}'s serving certificate`, async () => {
      const pending = await pendingServingCsrs(ctx, node)
      if (pending.refuse.length > 0) {
        // Denied, so it is not offered again; the step fails: a node asking for names not its own is misconfigured or hostile.
        await kubectl(ctx.nodes, ['certificate', 'deny', '--', ...pending.refuse.map((c) => c.name)])
        for (const c of pending.refuse) ctx.progress.warn(`${node.spec.name}: serving CSR ${c.name} denied: ${c.why}`)
        throw new JoinError(`${node.spec.name} asked for a serving certificate that does not match the node (name ${node.spec.name}, address ${node.spec.address}): ${pending.refuse.map((c) => `${c.name}: ${c.why}`).join('; ')}`, {
          hint: `kubectl get csr ${pending.refuse[0]!.name} -o yaml shows the request; kubelet asks for --hostname-override and --node-ip, so check the node's kubelet flags`,
        })
      }
      if (pending.approve.length > 0) await kubectl(ctx.nodes, ['certificate', 'approve', '--', ...pending.approve])
      return (await node.runner.test`test -s ${SERVING_CERT}`) ? undefined : 'serving CSR not issued yet'
    })
  },
}

async function readiness(ctx: StepContext, node: NodeHandle): Promise<string | undefined> {
  const ready = (await nodeObject(ctx, node))?.status?.conditions?.find((c) => c.type === 'Ready')
  if (!ready) return 'no Ready condition yet'
  return ready.status === 'True' ? undefined : `${ready.status} ${ready.reason ?? ''} ${ready.message ?? ''}`.trim()
}

export const nodeReady: Step = {
  id: 'node:ready',
  title: 'Waiting for the node to be Ready',
  on: 'all',
  // Not the workload images: a node is Ready whatever kubelab's own images are; the addons wait
  // for them (images:imported), so the big ones (Traefik's) do not hold up Ready.
  after: ['join:serving-cert', 'kube-proxy:config', 'network:pod-routes'],
  establishes: 'nodes:ready',
  check: async (ctx, node) => (await readiness(ctx, node)) === undefined,
  apply: (ctx, node) => wait(ctx, node, `${node.spec.name} to be Ready`, () => readiness(ctx, node)),
}
