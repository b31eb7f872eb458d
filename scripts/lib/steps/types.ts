// What a converge step is and what it gets. A step is read-only `check` (cheap: true = converged)
// and `apply` (makes check true; safe to run again after a partial failure). The runner (run.ts)
// does check -> apply -> check again on each target node.

import type { Artifact } from '../artifacts/resolve.ts'
import type { LocalImage } from '../images/sandbox.ts'
import type { PkiFiles } from '../pki/bundle.ts'
import type { ClusterConfig, NodeSpec } from '../config/types.ts'
import type { Progress } from '../log/progress.ts'
import type { Machine } from '../providers/types.ts'
import type { Runner } from '../remote/runner.ts'
import type { Substrate } from '../templates/files.ts'
import type { StepInfo } from './index.ts'

/** One node as steps see it: its spec, machine, runner and detected substrate. */
export interface NodeHandle {
  readonly spec: NodeSpec
  readonly machine: Machine
  readonly runner: Runner
  readonly substrate: Substrate
}

/** The cluster's certificates, keys and kubeconfigs on the host, ready to upload (pki/bundle.ts). */
export type PkiBundle = PkiFiles

export interface StepContext {
  readonly config: ClusterConfig
  readonly nodes: readonly NodeHandle[]
  readonly artifacts: readonly Artifact[]
  /** Images every node imports locally (the sandbox image; later the test workloads). */
  readonly images?: readonly LocalImage[]
  /** Managed control plane: the PKI kubelab issued. */
  readonly pki?: PkiBundle
  /** Values one step hands to later ones within one `up` (never written to disk or printed). */
  readonly shared: { joinToken?: string }
  readonly progress: Progress
  readonly stateDir: string
}

export interface Step extends StepInfo {
  check(ctx: StepContext, node: NodeHandle): Promise<boolean>
  apply(ctx: StepContext, node: NodeHandle): Promise<void>
}
