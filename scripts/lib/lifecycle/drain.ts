// The cordon/drain discipline around any disruptive change to a node: cordon (no new pods), drain
// (evict, respecting PodDisruptionBudgets; DaemonSet pods stay, emptyDir data goes), the change,
// wait until the node is Ready (at a version, when one is expected), uncordon.

import { StepError } from '../errors.ts'
import type { Kube } from './session.ts'
import { nodeInfos } from './session.ts'

export const DRAIN_TIMEOUT_S = 120

export async function cordon(kube: Kube, node: string): Promise<void> {
  await kube.run(['cordon', node])
}

export async function uncordon(kube: Kube, node: string): Promise<void> {
  await kube.run(['uncordon', node])
}

export async function drain(kube: Kube, node: string, timeoutS = DRAIN_TIMEOUT_S): Promise<void> {
  await kube.run(['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', `--timeout=${timeoutS}s`], { timeoutMs: (timeoutS + 30) * 1000 })
}

/** Polls until `node` is Ready (and reports `version`, when given); the error says what it last saw. */
export async function waitReady(kube: Kube, node: string, o: { version?: string; timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 180_000
  const deadline = Date.now() + timeoutMs
  let seen = 'not seen yet'
  for (;;) {
    const info = (await nodeInfos(kube).catch(() => [])).find((n) => n.name === node)
    if (info) seen = `${info.ready ? 'Ready' : 'NotReady'} at ${info.version}`
    if (info?.ready && (!o.version || info.version === o.version)) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${node} to be Ready${o.version ? ` at ${o.version}` : ''}: ${seen}`)
    await new Promise((r) => setTimeout(r, 1000))
  }
}

/**
 * Cordon, drain, `change`, wait Ready, uncordon. A failure is a StepError(step, node) and the node
 * stays cordoned (the hint says how to let pods back once it is fixed).
 */
export async function withDrained<T>(kube: Kube, step: string, node: string, change: () => Promise<T>, o: { version?: string } = {}): Promise<T> {
  try {
    await cordon(kube, node)
    await drain(kube, node)
    const out = await change()
    await waitReady(kube, node, o)
    await uncordon(kube, node)
    return out
  } catch (err) {
    throw err instanceof StepError ? err : new StepError(step, node, err, { hint: `${node} is left cordoned; once fixed: npx kubelab kubectl -- uncordon ${node}` })
  }
}
