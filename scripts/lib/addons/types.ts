// What an addon is: one folder in addons/ and one line in addons/index.ts. It owns its switch
// (`addons.<name>` in the config), its manifest as data, the images it needs (lock components with
// `nodes: image` and `addon: <name>`; runtime:images imports them on every node), its converge
// step(s) and its smoke check(s). `kubelab addons` lists each with its state in the cluster.

import type { AddonsConfig, ClusterConfig } from '../config/types.ts'
import type { Step } from '../converge/step.ts'
import type { SmokeCheck } from '../smoke/types.ts'

/** An addon's state in a running cluster. */
export interface AddonState {
  /** Its objects (or service) exist. */
  readonly applied: boolean
  /** Applied and serving (Deployments Available, APIServices Available, the service answering). */
  readonly ready: boolean
  readonly detail: string
}

/** What `state` may read: kubectl on the host (admin kubeconfig through the API forward). */
export type HostKubectl = (args: readonly string[]) => Promise<{ status: number; stdout: string; stderr: string }>

export interface Addon {
  /** The key under `addons:`. */
  readonly name: keyof AddonsConfig
  /** One line: what a user gets. */
  readonly summary: string
  /** The upstream component(s) and version source, for `kubelab addons` and docs/addons.md. */
  readonly upstream: string
  readonly steps: readonly Step[]
  /** Checks in the smoke suite `up` runs (each names its addon: the suite says it "not run" while the addon is off). */
  readonly checks: readonly SmokeCheck[]
  /** Its state in the cluster; default: the Deployments and APIServices labelled with it (addons/state.ts). */
  readonly state?: (config: ClusterConfig, kubectl: HostKubectl) => Promise<AddonState>
}
