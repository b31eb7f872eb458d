// Check 13: limits are enforced (a pod over its memory limit is OOMKilled) and every node reports
// allocatable resources.

import { manifest, NS, pod } from '../fixtures.ts'
import type { SmokeCheck } from '../types.ts'
import { until } from '../wait.ts'

interface Terminated { reason?: string; exitCode?: number }
interface ContainerStatus { state?: { terminated?: Terminated }; lastState?: { terminated?: Terminated }; restartCount?: number }

export const resourceLimits: SmokeCheck = {
  id: 'resource-limits',
  title: 'a pod over its memory limit is OOMKilled; node allocatable reported',
  timeoutMs: 90_000,
  async run(ctx) {
    const nodes = await ctx.kube.json<{ items: { metadata: { name: string }; status: { allocatable?: Record<string, string> } }[] }>(['get', 'nodes'])
    const lacking = nodes.items.filter((n) => !n.status.allocatable?.['memory'] || !n.status.allocatable['cpu'] || !n.status.allocatable['pods'])
    if (lacking.length) throw new Error(`no allocatable cpu/memory/pods on ${lacking.map((n) => n.metadata.name).join(', ')}`)
    const worker = ctx.config.nodes.find((n) => n.role === 'worker')!.name
    const limits = { limits: { memory: '32Mi' }, requests: { memory: '16Mi' } }
    await ctx.kube.apply(manifest(pod('hog', worker, ctx.fx.image, ['/bin/probe', 'hog', '256'], { resources: limits })))
    let seen = ''
    await until(ctx, 'the memory hog to be OOMKilled', this.timeoutMs - 10_000, async () => {
      const p = await ctx.kube.json<{ status: { containerStatuses?: ContainerStatus[] } }>(['-n', NS, 'get', 'pod', 'hog'])
      const s = p.status.containerStatuses?.[0]
      const t = s?.state?.terminated ?? s?.lastState?.terminated
      // The kernel's OOM killer sends SIGKILL (137); kubelet names it OOMKilled when it saw the
      // cgroup's OOM event, which cgroup v1 machine containers do not always deliver.
      if (t && (t.reason === 'OOMKilled' || t.exitCode === 137)) {
        seen = t.reason === 'OOMKilled' ? 'OOMKilled' : 'killed by SIGKILL (exit 137) at its limit'
        return undefined
      }
      return `container state: ${JSON.stringify(s?.state ?? {})}`
    }, 1_000)
    const a = nodes.items[0]!.status.allocatable!
    return `hog (limit 32Mi, wants 256Mi) ${seen} on ${worker}; e.g. ${nodes.items[0]!.metadata.name}: ${a['cpu']} cpu, ${a['memory']} memory, ${a['pods']} pods`
  },
}
