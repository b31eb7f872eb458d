// A node as everything after the machines sees it: its spec from the config, the machine the
// provider made (or found), a Runner on it and the substrate detected there. Nothing here knows
// which provider made the machine.

import type { NodeSpec } from '../config/types.ts'
import type { Machine } from '../providers/types.ts'
import type { Runner } from '../remote/types.ts'
import type { NodeFacts } from './facts.ts'

export interface NodeHandle {
  readonly spec: NodeSpec
  readonly machine: Machine
  readonly runner: Runner
  readonly substrate: NodeFacts
}
