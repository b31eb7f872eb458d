// join:node — the node's TLS bootstrap, watched as named phases: kubelet's client CSR approved
// (by the controller-manager, through the bootstrap RBAC), the Node registered, and its serving
// certificate: kubelet asks for one (serverTLSBootstrap) and kubelab approves it for exactly this
// node, so logs, exec and port-forward verify the kubelet. node:ready — the Node reports Ready.

import { stepInfo } from './index.ts'
import { kubectl } from './kubectl.ts'
import type { NodeHandle, Step, StepContext } from './types.ts'

const SERVING_CERT = '/var/lib/kubelet/pki/kubelet-server-current.pem'

interface Csr {
  metadata: { name: string }
  spec: { signerName: string; username: string }
  status?: { conditions?: { type: string }[] }
}

async function pendingServingCsrs(ctx: StepContext, node: NodeHandle): Promise<string[]> {
  const r = await kubectl(ctx, ['get', 'csr', '-o', 'json'])
  const items = (JSON.parse(r.stdout) as { items: Csr[] }).items
  return items.filter((c) => c.spec.signerName === 'kubernetes.io/kubelet-serving'
    && c.spec.username === `system:node:${node.spec.name}`
    && !(c.status?.conditions ?? []).length).map((c) => c.metadata.name)
}

const registered = async (ctx: StepContext, node: NodeHandle) => (await kubectl(ctx, ['get', 'node', node.spec.name], { nothrow: true })).ok

/** Polls `probe` until it returns undefined (done) or the deadline; the message says what is still missing. */
async function waitFor(what: string, timeoutMs: number, probe: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let reason: string | undefined
  for (;;) {
    reason = await probe()
    if (reason === undefined) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}: ${reason}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

export const joinNode: Step = {
  ...stepInfo('join:node'),
  async check(ctx, node) {
    if (!(await node.runner.test`test -s /var/lib/kubelet/kubeconfig && test -s ${SERVING_CERT}`)) return false
    const r = await kubectl(ctx, ['get', 'node', node.spec.name, '-o', 'jsonpath={.metadata.labels}'], { nothrow: true })
    if (!r.ok) return false
    const have = JSON.parse(r.stdout || '{}') as Record<string, string>
    const want = { [`node-role.kubernetes.io/${node.spec.role}`]: '', ...node.spec.labels }
    return Object.entries(want).every(([k, v]) => have[k] === v)
  },
  async apply(ctx, node) {
    await waitFor(`${node.spec.name}'s client certificate (CSR approved)`, 120_000, async () =>
      (await node.runner.test`test -s /var/lib/kubelet/kubeconfig`) ? undefined : 'kubelet has no client certificate yet (CSR pending or not created)')
    await waitFor(`Node ${node.spec.name} to register`, 60_000, async () => ((await registered(ctx, node)) ? undefined : 'no Node object yet'))
    // Role and config labels: kubelet may not set node-role labels on itself (NodeRestriction).
    const labels = { [`node-role.kubernetes.io/${node.spec.role}`]: '', ...node.spec.labels }
    await kubectl(ctx, ['label', 'node', node.spec.name, '--overwrite', ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)])
    await waitFor(`${node.spec.name}'s serving certificate`, 60_000, async () => {
      for (const csr of await pendingServingCsrs(ctx, node)) await kubectl(ctx, ['certificate', 'approve', csr])
      return (await node.runner.test`test -s ${SERVING_CERT}`) ? undefined : 'serving CSR not issued yet'
    })
  },
}

async function readiness(ctx: StepContext, node: NodeHandle): Promise<string | undefined> {
  const r = await kubectl(ctx, ['get', 'node', node.spec.name, '-o', 'jsonpath={range .status.conditions[?(@.type=="Ready")]}{.status} {.reason} {.message}{end}'], { nothrow: true })
  const out = r.stdout.trim()
  return out.startsWith('True ') ? undefined : (out || 'no Ready condition yet')
}

export const nodeReady: Step = {
  ...stepInfo('node:ready'),
  check: async (ctx, node) => (await readiness(ctx, node)) === undefined,
  apply: (ctx, node) => waitFor(`${node.spec.name} to be Ready`, 180_000, () => readiness(ctx, node)),
}
