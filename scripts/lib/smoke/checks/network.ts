// Checks 7-11: Services and pod networking as workloads meet them. The `target` server runs on the
// first worker; clients run on every node, so "same node" and "another node" are exact.

import type { PodInfo, Target } from '../fixtures.ts'
import type { SmokeCheck, SmokeContext } from '../types.ts'
import { until } from '../wait.ts'

/** The client on the target's node and one on another node (a worker when there is one). */
async function sides(ctx: SmokeContext): Promise<{ target: Target; same: PodInfo; other: PodInfo }> {
  const target = await ctx.fx.target(ctx)
  const clients = await ctx.fx.clients(ctx)
  const same = clients.get(target.node)!
  const others = ctx.config.nodes.filter((n) => n.name !== target.node)
  const pick = others.find((n) => n.role === 'worker') ?? others[0]
  if (!pick) throw new Error('needs a second node')
  return { target, same, other: clients.get(pick.name)! }
}

/** An HTTP GET from inside a pod; retried briefly, as rules may lag a new Service. */
export async function getFrom(ctx: SmokeContext, client: PodInfo, url: string, what: string): Promise<void> {
  await until(ctx, `${what} from ${client.node}`, 20_000, async () => {
    const body = (await ctx.fx.exec(client.name, ['/bin/probe', 'get', url, '--timeout', '5s'])).trim()
    return body === 'target' ? undefined : `${url} answered ${JSON.stringify(body.slice(0, 60))}`
  }, 1_000)
}

export const clusterIpService: SmokeCheck = {
  id: 'service-clusterip',
  title: 'ClusterIP Service reached from the endpoint\'s node and from another node',
  timeoutMs: 120_000,
  async run(ctx) {
    const { target, same, other } = await sides(ctx)
    const url = `http://${target.clusterIP}/`
    await getFrom(ctx, same, url, 'ClusterIP')
    await getFrom(ctx, other, url, 'ClusterIP')
    return `${target.clusterIP}:80 -> target on ${target.node}, from ${same.node} and ${other.node}`
  },
}

/** Polls a curl (on a node or in the lab namespace) until `target` answers. */
function answersTarget(ctx: SmokeContext, what: string, curl: () => Promise<{ stdout: string; stderr: string }>): Promise<void> {
  return until(ctx, what, 30_000, async () => {
    const r = await curl()
    return r.stdout.trim() === 'target' ? undefined : (r.stderr.trim() || `answered ${JSON.stringify(r.stdout.slice(0, 60))}`)
  }, 1_000)
}

export const nodePortService: SmokeCheck = {
  id: 'service-nodeport',
  title: 'NodePort reached from another node and from the lab network',
  timeoutMs: 90_000,
  async run(ctx) {
    const { target, other } = await sides(ctx)
    const targetNode = ctx.config.nodes.find((n) => n.name === target.node)!
    const otherNode = ctx.config.nodes.find((n) => n.name === other.node)!
    const fromNode = ctx.nodes.find((n) => n.spec.name === other.node)!
    await answersTarget(ctx, `NodePort ${targetNode.address}:${target.nodePort} from ${other.node}`, () =>
      fromNode.runner.$({ nothrow: true })`curl -sS --max-time 5 http://${targetNode.address}:${target.nodePort}/`)
    if (!ctx.labExec) return `${targetNode.address}:${target.nodePort} from ${other.node} (no lab network on this provider)`
    // From the lab network to the *other* node: kube-proxy there forwards across nodes.
    await answersTarget(ctx, `NodePort ${otherNode.address}:${target.nodePort} from the lab network`, () =>
      ctx.labExec!(['curl', '-sS', '--max-time', '5', `http://${otherNode.address}:${target.nodePort}/`]))
    return `:${target.nodePort} on ${target.node} from ${other.node}, on ${other.node} from the lab network`
  },
}

export const podToPod: SmokeCheck = {
  id: 'pod-to-pod',
  title: 'pod-to-pod across nodes',
  timeoutMs: 90_000,
  async run(ctx) {
    const { target, other } = await sides(ctx)
    await getFrom(ctx, other, `http://${target.ip}:8080/`, 'the target pod')
    return `${other.node} (${other.ip}) -> ${target.node} (${target.ip})`
  },
}

export const apiFromPod: SmokeCheck = {
  id: 'api-from-pod',
  title: 'from a pod, HTTPS to kubernetes.default with the service-account token and CA',
  timeoutMs: 60_000,
  async run(ctx) {
    const { same } = await sides(ctx)
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount'
    const body = await ctx.fx.exec(same.name, ['sh', '-c', `/bin/probe get https://kubernetes.default.svc/api --ca ${sa}/ca.crt --token-file ${sa}/token`])
    const doc = JSON.parse(body) as { kind?: string; versions?: string[] }
    if (doc.kind !== 'APIVersions') throw new Error(`/api answered ${JSON.stringify(body.slice(0, 80))}`)
    return `verified TLS to kubernetes.default.svc, /api lists ${doc.versions?.join(',')}`
  },
}

export const dns: SmokeCheck = {
  id: 'dns',
  title: 'DNS: a pod resolves kubernetes.default and a test Service',
  timeoutMs: 90_000,
  async run(ctx) {
    if (!ctx.config.addons.coredns) throw new Error('addons.coredns is off in the config: no cluster DNS to test')
    const { target, other } = await sides(ctx)
    const domain = ctx.config.kubernetes.clusterDomain
    // Short names through the pod's resolver (search list, as applications resolve), and the
    // Service's full name asked of the cluster DNS server directly (busybox nslookup).
    const cases: [string[], string][] = [
      [['/bin/probe', 'resolve', 'kubernetes.default'], ctx.config.kubernetes.apiServiceIP],
      [['/bin/probe', 'resolve', 'target'], target.clusterIP],
      [['nslookup', `target.kubelab-smoke.svc.${domain}`], target.clusterIP],
    ]
    for (const [argv, ip] of cases) {
      await until(ctx, `${argv.slice(1).join(' ')} -> ${ip}`, 30_000, async () => {
        const out = await ctx.fx.exec(other.name, argv)
        return out.split(/\s+/).includes(ip) ? undefined : `got ${JSON.stringify(out.trim().split('\n').slice(-2).join(' '))}`
      }, 1_000)
    }
    return `kubernetes.default -> ${ctx.config.kubernetes.apiServiceIP}, target -> ${target.clusterIP} (from ${other.node})`
  },
}
