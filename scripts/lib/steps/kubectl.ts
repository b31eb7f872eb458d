// Talking to the cluster from steps: kubectl on the control-plane node with the admin kubeconfig
// (the API server is only reachable inside the lab; kubelab reaches the node over SSH).

import type { Result } from '../remote/runner.ts'
import type { NodeHandle, StepContext } from './types.ts'

export const ADMIN_CONF = '/etc/kubernetes/admin.conf'

export function controlPlane(ctx: StepContext): NodeHandle {
  const cp = ctx.nodes.find((n) => n.spec.role === 'control-plane')
  if (!cp) throw new Error('no control-plane node among the open nodes')
  return cp
}

/** `kubectl ARGS` on the control plane; throws CommandError on failure unless nothrow. */
export function kubectl(ctx: StepContext, args: readonly string[], options: { nothrow?: boolean } = {}): Promise<Result> {
  return controlPlane(ctx).runner.$(options)`/usr/local/bin/kubectl --kubeconfig ${ADMIN_CONF} ${args}`
}

/** Applies a manifest (YAML text) on the control plane. */
export async function kubectlApply(ctx: StepContext, name: string, manifest: string): Promise<void> {
  const cp = controlPlane(ctx)
  const file = `/var/lib/kubelab/manifests/${name}.yaml`
  await cp.runner.writeFile(file, manifest, 0o600)
  await cp.runner.$`/usr/local/bin/kubectl --kubeconfig ${ADMIN_CONF} apply -f ${file}`
}
