// Smoke check: `kubectl top nodes` has numbers for every node and `kubectl top pods` for kube-system
// (metrics-server scraped every kubelet over verified TLS and the aggregated API answers).

import type { SmokeCheck } from '../../smoke/types.ts'
import { until } from '../../smoke/wait.ts'

/** `kubectl top nodes --no-headers` lines -> node -> [cpu, memory] (only lines with numbers). */
export function parseTopNodes(out: string): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>()
  for (const line of out.split('\n')) {
    const [name, cpu, , mem] = line.trim().split(/\s+/)
    if (name && cpu && mem && /^\d+m?$/.test(cpu) && /^\d+(Ki|Mi|Gi)$/.test(mem)) rows.set(name, [cpu, mem])
  }
  return rows
}

export const topAnswers: SmokeCheck = {
  id: 'metrics-top',
  title: 'kubectl top nodes and top pods answer with numbers (metrics-server)',
  timeoutMs: 150_000,
  addon: 'metricsServer',
  async run(ctx) {
    let rows = new Map<string, [string, string]>()
    await until(ctx, 'kubectl top nodes for every node', 140_000, async () => {
      const r = await ctx.kube.run(['top', 'nodes', '--no-headers'], { nothrow: true })
      if (r.code !== 0) return r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`
      rows = parseTopNodes(r.stdout)
      const missing = ctx.config.nodes.filter((n) => !rows.has(n.name)).map((n) => n.name)
      return missing.length ? `no metrics yet for ${missing.join(', ')}` : undefined
    }, 3_000)
    let pods = 0
    await until(ctx, 'kubectl top pods -n kube-system', 60_000, async () => {
      const r = await ctx.kube.run(['top', 'pods', '-n', 'kube-system', '--no-headers'], { nothrow: true })
      pods = r.stdout.split('\n').filter((l) => /\s\d+m\s+\d+Mi/.test(l)).length
      return r.code === 0 && pods > 0 ? undefined : (r.stderr.trim().split('\n').pop() || 'no pod metrics yet')
    }, 3_000)
    return [...rows].map(([n, [cpu, mem]]) => `${n} ${cpu} ${mem}`).join(', ') + `; ${pods} kube-system pods`
  },
}
