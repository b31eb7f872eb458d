// What a converge step is. A step is one file in steps/ and one line in steps/index.ts. It owns its
// id, title, the nodes it runs on (`on` + `when`), what it waits for, and two functions:
// `check` (read-only and cheap: true = converged) and `apply` (makes check true; safe to run again
// after a partial failure). The runner (runner.ts) does check -> apply -> check again per node,
// each node's work starting as soon as what it waits for is there.

import type { Artifact } from '../artifacts/resolve.ts'
import type { ClusterConfig, NodeSpec } from '../config/types.ts'
import { UsageError } from '../errors.ts'
import type { LocalImage } from '../images/sandbox.ts'
import type { Progress } from '../log/progress.ts'
import type { NodeHandle } from '../node/types.ts'
import type { PkiFiles } from '../pki/bundle.ts'

export type StepTarget = 'all' | 'control-plane' | 'workers'

/**
 * Cluster-wide facts a step can wait for. Each holds once every step that `establishes` it is done
 * on all its nodes; one that no step of this config establishes holds from the start (with an
 * external control plane, its API server, CSR signer and token are the world's, not ours).
 */
export type Condition =
  /** The API server answers /readyz. */
  | 'api:serving'
  /** kube-controller-manager runs: node CSRs get approved and signed. */
  | 'csr:signing'
  /** The join token's Secret exists in the API (kubelet can TLS-bootstrap with it). */
  | 'join:token'
  /** Every node is Ready, its kube-proxy synced. */
  | 'nodes:ready'
  /** Every node holds kubelab's workload images (testbox, CoreDNS, the addons'). */
  | 'images:imported'

export interface Step {
  /** Stable id, `area:thing`, used in errors, --json, timings and `--until`. */
  readonly id: string
  /** What the progress line says. */
  readonly title: string
  readonly on: StepTarget
  /** Whether the step exists for this config at all (default: always). */
  readonly when?: (config: ClusterConfig) => boolean
  /** Steps earlier in the list that must be done on the same node first; ignored where such a step does not run. */
  readonly after?: readonly string[]
  /** Cluster-wide conditions that must hold before the step starts on any node. */
  readonly waitsFor?: readonly Condition[]
  /** The condition that holds once this step is done on every node it runs on. */
  readonly establishes?: Condition
  /**
   * Workers start this step only once every control-plane node has done it: for heavy work that is
   * on the control plane's critical path there and not on the workers' (they wait for the join
   * token anyway), so that on a small host the two do not share the CPU.
   */
  readonly controlPlaneFirst?: boolean
  check(ctx: StepContext, node: NodeHandle): Promise<boolean>
  apply(ctx: StepContext, node: NodeHandle): Promise<void>
}

/** The host-side inputs of the steps (converge/inputs.ts), prepared before any step runs. */
export interface StepInputs {
  readonly artifacts: readonly Artifact[]
  /** Images every node imports locally (sandbox, testbox, coredns). */
  readonly images: readonly LocalImage[]
  /** Managed control plane: the PKI kubelab issued. */
  readonly pki?: PkiBundle
  /** Managed control plane: the bootstrap token nodes that have not joined yet start kubelet with. */
  readonly joinToken?: JoinToken
}

export interface JoinToken {
  /** `abcdef.0123456789abcdef` */
  readonly token: string
  readonly expires: Date
}

/** The cluster's certificates, keys and kubeconfigs on the host, ready to upload (pki/bundle.ts). */
export type PkiBundle = PkiFiles

export interface StepContext extends StepInputs {
  readonly config: ClusterConfig
  readonly nodes: readonly NodeHandle[]
  readonly progress: Progress
  readonly stateDir: string
  /** Aborted when another node's step failed: waits end early instead of running to their timeout. */
  readonly signal?: AbortSignal
  /**
   * Within one round of checks made all at once (runner.ts checkAll) only: API reads shared by
   * the checks (node/cluster-api.ts apiGet; runtime-images.ts's image list), each made once per round.
   */
  readonly reads?: Map<string, Promise<unknown>>
}

/** Whether the step exists for this config. */
export const stepActive = (step: Step, config: ClusterConfig): boolean => step.when?.(config) ?? true

/** The nodes a step runs on, in config order (none when it does not exist for this config). */
export function targets(step: Step, config: ClusterConfig): NodeSpec[] {
  if (!stepActive(step, config)) return []
  return config.nodes.filter((n) => step.on === 'all' || (step.on === 'control-plane') === (n.role === 'control-plane'))
}

/** The steps up to and including `until` (all when omitted). */
export function stepsUntil(steps: readonly Step[], until?: string): readonly Step[] {
  if (until === undefined) return steps
  const end = steps.findIndex((s) => s.id === until)
  if (end < 0) throw new UsageError(`--until: no step "${until}"; steps: ${steps.map((s) => s.id).join(', ')}`)
  return steps.slice(0, end + 1)
}

/**
 * What is wrong with a step list (empty when nothing): unique ids, `after` naming earlier steps
 * only, every awaited condition established by an earlier step. The list order is then a valid
 * order to run in, and the order progress lines and `plan` show.
 */
export function listProblems(steps: readonly Step[]): string[] {
  const problems: string[] = []
  steps.forEach((s, i) => {
    const before = steps.slice(0, i)
    if (before.some((b) => b.id === s.id)) problems.push(`${s.id}: listed twice`)
    for (const a of s.after ?? []) if (!before.some((b) => b.id === a)) problems.push(`${s.id}: after "${a}", which is not an earlier step`)
    for (const c of s.waitsFor ?? []) if (!before.some((b) => b.establishes === c)) problems.push(`${s.id}: waits for "${c}", which no earlier step establishes`)
  })
  return problems
}
