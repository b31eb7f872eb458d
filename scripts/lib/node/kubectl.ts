// kubectl on the control-plane node with the admin kubeconfig, over SSH: the API server is only
// reachable inside the lab, kubelab reaches the node. Used by steps and the lifecycle operations.

import type { Result, RunOptions } from '../remote/types.ts'
import { MANIFESTS_DIR, adminKubectl } from './paths.ts'
import type { NodeHandle } from './types.ts'

/** The (first) control-plane node among `nodes`. */
export function controlPlaneOf(nodes: readonly NodeHandle[]): NodeHandle {
  const cp = nodes.find((n) => n.spec.role === 'control-plane')
  if (!cp) throw new Error('no control-plane node among the open nodes')
  return cp
}

/** `kubectl ARGS` on the control plane; throws CommandError on failure unless nothrow. */
export function kubectl(nodes: readonly NodeHandle[], args: readonly string[], options: RunOptions = {}): Promise<Result> {
  return controlPlaneOf(nodes).runner.$(options)`${adminKubectl(args)}`
}

/** Applies a manifest (YAML text) on the control plane, kept as MANIFESTS_DIR/NAME.yaml; throws CommandError on failure unless nothrow. */
export async function kubectlApply(nodes: readonly NodeHandle[], name: string, manifest: string, options: RunOptions = {}): Promise<Result> {
  const cp = controlPlaneOf(nodes)
  const file = `${MANIFESTS_DIR}/${name}.yaml`
  await cp.runner.writeFile(file, manifest, 0o600)
  return cp.runner.$(options)`${adminKubectl(['apply', '-f', file])}`
}
