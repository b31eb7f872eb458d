// Opens every node for the steps (and smoke, logs, lifecycle): a Runner per machine (host key pinned) and the node's detected
// substrate, in parallel; closes them again.

import type { ClusterConfig } from '../config/types.ts'
import { MachineError } from '../errors.ts'
import type { Progress } from '../log/progress.ts'
import type { Machine } from '../providers/types.ts'
import { runnerFor } from '../remote/machine.ts'
import { detectFacts } from './facts.ts'
import type { NodeHandle } from './types.ts'

export async function openNodes(config: ClusterConfig, machines: readonly Machine[], stateDir: string, progress: Progress): Promise<NodeHandle[]> {
  const byName = new Map(machines.map((m) => [m.name, m]))
  const handles = await Promise.allSettled(config.nodes.map(async (spec) => {
    const machine = byName.get(spec.name)
    if (!machine || machine.state !== 'running') throw new MachineError(spec.name, `is ${machine?.state ?? 'missing'}; run: npx kubelab up`)
    const runner = await runnerFor(machine, stateDir, { config, progress })
    try {
      const substrate = await detectFacts(runner)
      progress.debug(1, `${spec.name}: ${substrate.virt}, cgroup v${substrate.cgroupV1 ? 1 : 2}${substrate.restrictOomScoreAdj ? ', no negative oom_score_adj' : ''}${substrate.conntrackReadOnly ? ', conntrack read-only' : ''}`)
      return { spec, machine, runner, substrate }
    } catch (err) {
      runner.close()
      throw err
    }
  }))
  const failed = handles.find((h): h is PromiseRejectedResult => h.status === 'rejected')
  const ok = handles.flatMap((h) => (h.status === 'fulfilled' ? [h.value] : []))
  if (failed) {
    closeNodes(ok)
    throw failed.reason
  }
  return ok
}

export function closeNodes(nodes: readonly NodeHandle[]): void {
  for (const n of nodes) n.runner.close()
}
