// What a smoke check is and what it gets. A check proves one thing a worker is for, on the live
// cluster, within its timeout; while it waits it says why (the live reason), and it returns a
// one-line detail of what it saw. Workloads come from fixtures (fixtures.ts), made once per run.

import type { AddonsConfig, ClusterConfig } from '../config/types.ts'
import type { Progress } from '../log/progress.ts'
import type { Provider } from '../providers/types.ts'
import type { NodeHandle } from '../node/types.ts'
import type { Fixtures } from './fixtures.ts'
import type { Kube } from './kube.ts'

export interface SmokeContext {
  readonly config: ClusterConfig
  readonly kube: Kube
  /** Every node over SSH (reopened by checks that restart a machine). */
  nodes: NodeHandle[]
  readonly provider: Provider
  readonly stateDir: string
  readonly progress: Progress
  readonly fx: Fixtures
  /** Runs a command in the lab network namespace (NodePort from the lab); undefined where there is none. */
  readonly labExec?: (argv: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }>
  /** Reopens SSH to every node (after a machine restart). */
  reopenNodes(): Promise<void>
  /** Every timeout is multiplied by this: 1, or more on slow machines (QEMU under TCG). */
  readonly timeScale: number
  /** Set by the runner: the live reason while a check waits. */
  say(reason: string): void
}

export interface SmokeCheck {
  /** Stable id, used in JUnit, --json and timings. */
  readonly id: string
  readonly title: string
  readonly timeoutMs: number
  /** An addon's check: while `addons.<addon>` is off the suite says it was not run (suite.ts runCheck). */
  readonly addon?: keyof AddonsConfig
  /** Resolves with a short detail when the check passes; throws (with the reason) when it fails. */
  run(ctx: SmokeContext): Promise<string>
}

export interface CheckResult {
  id: string
  title: string
  ok: boolean
  durationMs: number
  startedAt: number
  detail?: string
  error?: string
}
