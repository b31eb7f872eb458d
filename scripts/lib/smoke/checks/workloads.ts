// Checks 3-6: a Deployment spread over every worker becomes Available; port-forward, logs and exec
// reach its pods through the API server and kubelet (the serving certificates at work).

import { manifest, NS } from '../fixtures.ts'
import type { SmokeCheck, SmokeContext } from '../types.ts'
import { until } from '../wait.ts'

const workers = (ctx: SmokeContext) => ctx.config.nodes.filter((n) => n.role === 'worker').map((n) => n.name)

interface PodList { items: { metadata: { name: string }; spec: { nodeName?: string } }[] }

async function webPods(ctx: SmokeContext): Promise<PodList['items']> {
  return (await ctx.kube.json<PodList>(['-n', NS, 'get', 'pods', '-l', 'app=web'])).items
}

export const deploymentSpread: SmokeCheck = {
  id: 'deployment-spread',
  title: 'a Deployment spread over every worker becomes Available',
  timeoutMs: 120_000,
  async run(ctx) {
    const want = workers(ctx)
    await ctx.kube.apply(manifest({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: want.length,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            // One per worker: the scheduler must place a replica on each.
            affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }] } },
            containers: [{
              name: 'web', image: ctx.fx.image, imagePullPolicy: 'IfNotPresent', command: ['/bin/probe', 'serve', '--port', '8080'],
              ports: [{ containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 },
            }],
          },
        },
      },
    }))
    await until(ctx, 'Deployment web Available', this.timeoutMs - 5_000, async () => {
      const d = await ctx.kube.json<{ status: { availableReplicas?: number; conditions?: { type: string; status: string; message?: string }[] } }>(['-n', NS, 'get', 'deployment', 'web'])
      const available = d.status.availableReplicas ?? 0
      return available === want.length ? undefined : `${available}/${want.length} available${d.status.conditions?.find((c) => c.status !== 'True')?.message ? ` (${d.status.conditions.find((c) => c.status !== 'True')!.message})` : ''}`
    })
    const placed = new Set((await webPods(ctx)).map((p) => p.spec.nodeName))
    const missing = want.filter((w) => !placed.has(w))
    if (missing.length) throw new Error(`no replica on ${missing.join(', ')}`)
    return `${want.length} replicas Available, one on each of ${want.join(', ')}`
  },
}

export const portForward: SmokeCheck = {
  id: 'port-forward',
  title: 'port-forward to a pod answers',
  timeoutMs: 45_000,
  async run(ctx) {
    const pod = (await webPods(ctx))[0]?.metadata.name
    if (!pod) throw new Error('no web pod to forward to (deployment-spread failed?)')
    const child = ctx.kube.spawn(['-n', NS, 'port-forward', `pod/${pod}`, ':8080'])
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = ''
        let err = ''
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString()
          const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)
          if (m) resolve(Number(m[1]))
        })
        child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
        child.on('close', (code) => reject(new Error(`kubectl port-forward exited ${code}: ${err.trim()}`)))
      })
      const body = (await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) })).text()).trim()
      if (body !== pod) throw new Error(`127.0.0.1:${port} answered ${JSON.stringify(body.slice(0, 80))}, not the pod's name ${pod}`)
      return `127.0.0.1:${port} -> ${pod}:8080 answered its name`
    } finally {
      child.kill('SIGTERM')
    }
  },
}

const firstWorker = (ctx: SmokeContext) => workers(ctx)[0]!

export const podLogs: SmokeCheck = {
  id: 'pod-logs',
  title: 'pod logs are readable',
  timeoutMs: 60_000,
  async run(ctx) {
    const client = (await ctx.fx.clients(ctx)).get(firstWorker(ctx))!
    const logs = (await ctx.kube.run(['-n', NS, 'logs', client.name])).stdout
    if (!logs.includes('smoke-client-ready')) throw new Error(`logs of ${client.name} lack its start line: ${JSON.stringify(logs.slice(0, 80))}`)
    return `read ${client.name}'s log on ${client.node}`
  },
}

export const podExec: SmokeCheck = {
  id: 'pod-exec',
  title: 'exec into a pod works',
  timeoutMs: 60_000,
  async run(ctx) {
    const client = (await ctx.fx.clients(ctx)).get(firstWorker(ctx))!
    const name = (await ctx.fx.exec(client.name, ['hostname'])).trim()
    if (name !== client.name) throw new Error(`hostname in ${client.name} says ${JSON.stringify(name)}`)
    return `ran hostname in ${client.name} on ${client.node}`
  },
}
