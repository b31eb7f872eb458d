// Check 12: NetworkPolicy is enforced (network.policy). In a namespace of its own, so no other
// check meets its policies: a `web` server on the first worker with a ClusterIP Service, and two
// clients on another node (`allowed`, labelled role=allowed, and `other`). Both reach web across
// nodes; a default-deny ingress policy blocks both; a policy allowing role=allowed restores it for
// that client only; an egress deny on `allowed` blocks its call to the Service's ClusterIP;
// removing the policies lets both through again. "Blocked" is seen twice in a row (a connect timing
// out), "reached" is web's own answer.

import { manifest, NETPOL_NS, pod, podNotReady } from '../fixtures.ts'
import type { SmokeCheck, SmokeContext } from '../types.ts'
import { until } from '../wait.ts'

const np = <S extends object>(name: string, spec: S) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: NETPOL_NS }, spec })

/** The policies the check applies, in order (exported for the unit test). */
export const POLICIES = {
  denyIngress: np('default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
  allowOne: np('web-from-allowed', {
    podSelector: { matchLabels: { app: 'web' } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { role: 'allowed' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
  }),
  denyEgress: np('allowed-deny-egress', { podSelector: { matchLabels: { role: 'allowed' } }, policyTypes: ['Egress'] }),
} as const

const inNs = (o: object) => {
  const p = o as { metadata: Record<string, unknown> }
  return { ...p, metadata: { ...p.metadata, namespace: NETPOL_NS } }
}

/** One GET from a client pod: 'web' when web answered, else why not. */
async function get(ctx: SmokeContext, client: string, url: string): Promise<string> {
  const r = await ctx.kube.run(['-n', NETPOL_NS, 'exec', client, '--', '/bin/probe', 'get', url, '--timeout', '3s'], { nothrow: true, timeoutMs: 20_000 })
  // kubectl's own last line is "command terminated with exit code 1": probe's reason is before it.
  return r.code === 0 ? r.stdout.trim() : `failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 240)}`
}

async function reaches(ctx: SmokeContext, client: string, url: string, why: string): Promise<void> {
  await until(ctx, `${client} -> ${url} answered by web (${why})`, 30_000, async () => {
    const got = await get(ctx, client, url)
    return got === 'web' ? undefined : got
  }, 1_000)
}

/** How a blocked request fails (kube-router drops or rejects); anything else (no pod, no probe) is not "blocked". */
export const BLOCKED = /timeout|deadline|refused|unreachable/i

async function blocked(ctx: SmokeContext, client: string, url: string, why: string): Promise<void> {
  let inARow = 0
  await until(ctx, `${client} -> ${url} blocked (${why})`, 30_000, async () => {
    const got = await get(ctx, client, url)
    const isBlocked = got !== 'web' && BLOCKED.test(got)
    inARow = isBlocked ? inARow + 1 : 0
    return inARow >= 2 ? undefined : got === 'web' ? 'still answered by web' : isBlocked ? 'blocked once, again' : got
  }, 500)
}

export const networkPolicyEnforced: SmokeCheck = {
  id: 'network-policy',
  title: 'NetworkPolicy: default-deny blocks across nodes, one label allowed, egress deny blocks a Service',
  timeoutMs: 240_000,
  async run(ctx) {
    if (!ctx.config.network.policy) return 'not run: network.policy is off (NetworkPolicy objects are accepted, not enforced)'
    const image = ctx.fx.image
    const serverNode = ctx.config.nodes.find((n) => n.role === 'worker') ?? ctx.config.nodes[0]!
    const others = ctx.config.nodes.filter((n) => n.name !== serverNode.name)
    const clientNode = others.find((n) => n.role === 'worker') ?? others[0]
    if (!clientNode) throw new Error('needs a second node')
    await ctx.kube.apply(manifest(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NETPOL_NS } },
      inNs(pod('web', serverNode.name, image, ['/bin/probe', 'serve', '--port', '8080'], { labels: { app: 'web' }, port: 8080 })),
      inNs(pod('allowed', clientNode.name, image, ['/bin/probe', 'serve', '--port', '8080'], { labels: { role: 'allowed' } })),
      inNs(pod('other', clientNode.name, image, ['/bin/probe', 'serve', '--port', '8080'], { labels: { role: 'other' } })),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NETPOL_NS }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } },
    ))
    for (const name of ['web', 'allowed', 'other']) {
      await until(ctx, `pod ${NETPOL_NS}/${name} Ready`, 90_000, async () => {
        const r = await ctx.kube.run(['-n', NETPOL_NS, 'get', 'pod', name, '-o', 'json'], { nothrow: true })
        return podNotReady(r.code === 0 ? JSON.parse(r.stdout) : undefined)
      })
    }
    const ip = (await ctx.kube.run(['-n', NETPOL_NS, 'get', 'pod', 'web', '-o', 'jsonpath={.status.podIP}'])).stdout.trim()
    const clusterIP = (await ctx.kube.run(['-n', NETPOL_NS, 'get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).stdout.trim()
    const direct = `http://${ip}:8080/`
    const service = `http://${clusterIP}/`

    await reaches(ctx, 'allowed', direct, 'no policy yet')
    await reaches(ctx, 'other', direct, 'no policy yet')
    await ctx.kube.apply(manifest(POLICIES.denyIngress))
    await blocked(ctx, 'allowed', direct, 'default-deny ingress')
    await blocked(ctx, 'other', direct, 'default-deny ingress')
    await ctx.kube.apply(manifest(POLICIES.allowOne))
    await reaches(ctx, 'allowed', direct, 'role=allowed is let in')
    await reaches(ctx, 'allowed', service, 'role=allowed is let in')
    await blocked(ctx, 'other', direct, 'only role=allowed is let in')
    await ctx.kube.apply(manifest(POLICIES.denyEgress))
    await blocked(ctx, 'allowed', service, 'egress deny on role=allowed')
    await ctx.kube.run(['-n', NETPOL_NS, 'delete', 'networkpolicy', '--all'])
    await reaches(ctx, 'other', service, 'policies removed')
    await reaches(ctx, 'allowed', direct, 'policies removed')
    return `web on ${serverNode.name} <- ${clientNode.name}: deny-all blocked both, role=allowed let in alone, its egress deny blocked ${clusterIP}:80, policies removed: both through`
  },
}
