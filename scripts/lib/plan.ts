// The plan: machines x steps, from the config alone (pure). `kubelab plan` prints it; `up` follows it.

import type { ClusterConfig, NodeSpec } from './config/types.ts'
import { describeWouldMake, type WouldMake } from './errors.ts'
import { targets, type Step } from './converge/step.ts'
import { STEPS } from './steps/index.ts'

export interface NodePlan {
  node: NodeSpec
  steps: readonly Step[]
}

export interface Plan {
  cluster: string
  provider: ClusterConfig['provider']['type']
  kubernetesVersion: string
  controlPlane: ClusterConfig['controlPlane']['mode']
  nodes: NodePlan[]
  /** Against the live machines (plan-live.ts): node -> step id -> unchanged / would change. */
  live?: Record<string, Record<string, string>>
  /** What the cache lacks and `up` would make first (plan-live.ts cacheGaps). */
  wouldMake?: readonly WouldMake[]
}

/** The steps `up` runs on this node, in list order (the runner's own targets()). */
export function stepsFor(config: ClusterConfig, node: NodeSpec): Step[] {
  return STEPS.filter((s) => targets(s, config).some((n) => n.name === node.name))
}

export function makePlan(config: ClusterConfig): Plan {
  // Control-plane nodes first: workers join them.
  const ordered = [...config.nodes].sort((a, b) => Number(a.role === 'worker') - Number(b.role === 'worker'))
  return {
    cluster: config.name,
    provider: config.provider.type,
    kubernetesVersion: config.kubernetes.version,
    controlPlane: config.controlPlane.mode,
    nodes: ordered.map((node) => ({ node, steps: stepsFor(config, node) })),
  }
}

export function formatPlan(plan: Plan): string {
  const out = [
    `Plan for cluster "${plan.cluster}": provider ${plan.provider}, Kubernetes ${plan.kubernetesVersion}, control plane ${plan.controlPlane}`,
  ]
  for (const { node, steps } of plan.nodes) {
    out.push('', `${node.name}  (${node.role}, ${node.address || 'address from provider'}, pods ${node.podCIDR})`)
    const width = Math.max(...steps.map((s) => s.id.length))
    const live = plan.live?.[node.name]
    const state = (id: string) => (live ? `${(live[id] ?? 'would change').padEnd(12)}  ` : '')
    steps.forEach((s, i) => out.push(`  ${String(i + 1).padStart(2)}. ${s.id.padEnd(width)}  ${state(s.id)}${s.title}`))
    if (live) {
      const changing = steps.filter((s) => live[s.id] !== 'unchanged').length
      out.push(`      ${changing === 0 ? 'in sync: `up` would change nothing here' : `${changing} of ${steps.length} steps would change`}`)
    }
  }
  if (plan.wouldMake?.length) out.push('', 'Before the steps, `up` would make what the cache lacks:', ...plan.wouldMake.map((m) => `  ${describeWouldMake(m)}`))
  return out.join('\n')
}

/** The plan as data for --json (node specs without secrets; steps as id + title). */
export function planToJson(plan: Plan): Record<string, unknown> {
  return {
    ...plan,
    nodes: plan.nodes.map(({ node, steps }) => ({
      ...node,
      steps: steps.map(({ id, title }) => ({ id, title, ...(plan.live ? { live: plan.live[node.name]?.[id] ?? 'would change' } : {}) })),
    })),
  }
}
