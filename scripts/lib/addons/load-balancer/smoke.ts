// Smoke check: a `type: LoadBalancer` Service gets an address from the pool, answers on it from
// every node and from the lab network, and on the host's 127.0.0.1 through the service forwarder;
// once the Service is deleted the host port is closed again.

import http from 'node:http'
import * as cidr from '../../config/cidr.ts'
import { readServiceForwards } from '../../services/forwards.ts'
import { manifest, NS } from '../../smoke/fixtures.ts'
import type { SmokeCheck, SmokeContext } from '../../smoke/types.ts'
import { until } from '../../smoke/wait.ts'

const NAME = 'target-lb'
/** Not a port a user's own Service is likely to hold on the host. */
const PORT = 18080

/** GET http://127.0.0.1:PORT/ on the host (with a Host header when given): the body, or the error's text. */
export function hostGet(port: number, timeoutMs = 5_000, hostHeader?: string): Promise<{ ok: boolean; text: string }> {
  return new Promise((resolve) => {
    // A connection of its own each time (no keep-alive agent): each GET asks the forwarder anew.
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: timeoutMs, agent: false, ...(hostHeader ? { headers: { host: hostHeader } } : {}) }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ ok: true, text: body }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (err) => resolve({ ok: false, text: err.message }))
  })
}

function hostAddressOf(ctx: SmokeContext): string | undefined {
  return readServiceForwards(ctx.stateDir)?.services.find((s) => s.namespace === NS && s.name === NAME && s.port === PORT)?.hostAddress
}

export const loadBalancerReachable: SmokeCheck = {
  id: 'loadbalancer',
  title: 'a LoadBalancer Service gets a pool address, reached from every node, the lab network and the host',
  timeoutMs: 150_000,
  addon: 'loadBalancer',
  async run(ctx) {
    const k = ctx.kube
    const target = await ctx.fx.target(ctx)
    const range = cidr.parseRange(ctx.config.addons.loadBalancer.addresses ?? '')
    await k.apply(manifest({
      apiVersion: 'v1', kind: 'Service', metadata: { name: NAME, namespace: NS },
      spec: { type: 'LoadBalancer', selector: { app: 'target' }, ports: [{ port: PORT, targetPort: 8080, protocol: 'TCP' }] },
    }))
    let address = ''
    await until(ctx, `an address for Service ${NAME}`, 60_000, async () => {
      address = (await k.run(['-n', NS, 'get', 'svc', NAME, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'], { nothrow: true })).stdout.trim()
      return address ? undefined : `${NAME} has no status.loadBalancer.ingress yet`
    })
    const ip = cidr.parseIPv4(address)
    if (!range.ok || ip === undefined || ip < range.range.first || ip > range.range.last) {
      throw new Error(`${NAME} got ${address}, outside the pool ${ctx.config.addons.loadBalancer.addresses}`)
    }
    const answers = (what: string, get: () => Promise<{ stdout: string; stderr: string }>) => until(ctx, what, 30_000, async () => {
      const r = await get()
      return r.stdout.trim() === 'target' ? undefined : (r.stderr.trim() || `answered ${JSON.stringify(r.stdout.slice(0, 60))}`)
    }, 1_000)
    const url = `http://${address}:${PORT}/`
    for (const node of ctx.nodes) await answers(`${url} from ${node.spec.name}`, () => node.runner.$({ nothrow: true })`curl -sS --max-time 5 ${url}`)
    const seen = [`${ctx.nodes.length} nodes`]
    if (ctx.labExec) {
      await answers(`${url} from the lab network`, () => ctx.labExec!(['curl', '-sS', '--max-time', '5', url]))
      seen.push('the lab network')
    }
    if (readServiceForwards(ctx.stateDir)) {
      let hostAddress = ''
      await until(ctx, `a host forward for ${NAME}`, 30_000, async () => ((hostAddress = hostAddressOf(ctx) ?? '') ? undefined : 'not in the forwarder\'s services.json yet'))
      const hostPort = Number(hostAddress.split(':')[1])
      await answers(`http://${hostAddress}/ on the host`, async () => {
        const r = await hostGet(hostPort)
        return r.ok ? { stdout: r.text, stderr: '' } : { stdout: '', stderr: r.text }
      })
      await k.run(['-n', NS, 'delete', 'svc', NAME, '--wait=true'])
      await until(ctx, `the host forward of ${NAME} to close`, 30_000, async () => {
        if (hostAddressOf(ctx)) return 'still in the forwarder\'s services.json'
        const r = await hostGet(hostPort, 2_000)
        return r.ok ? `${hostAddress} still answers` : undefined
      })
      seen.push(`the host at ${hostAddress} (closed once the Service was deleted)`)
    }
    return `${NAME} -> ${address}:${PORT} (target on ${target.node}), from ${seen.join(', ')}`
  },
}
