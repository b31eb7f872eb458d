// Smoke check: an Ingress without a class (the default IngressClass takes it) routes a host name
// to the target Service: from the lab network at the Ingress's address, and from the host's
// 127.0.0.1 through the forward of Traefik's LoadBalancer Service.

import { hostGet } from '../load-balancer/smoke.ts'
import { readServiceForwards } from '../../services/forwards.ts'
import { manifest, NS } from '../../smoke/fixtures.ts'
import type { SmokeCheck } from '../../smoke/types.ts'
import { until } from '../../smoke/wait.ts'
import { INGRESS_NAME, INGRESS_NAMESPACE } from './manifest.ts'

const NAME = 'target-ingress'
const HOST = 'target.kubelab.test'

export const ingressRoutes: SmokeCheck = {
  id: 'ingress',
  title: 'an Ingress (default class) routes a host name to its Service, from the lab network and the host',
  timeoutMs: 120_000,
  addon: 'ingress',
  async run(ctx) {
    const k = ctx.kube
    await ctx.fx.target(ctx)
    await k.apply(manifest({
      apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: NAME, namespace: NS },
      spec: { rules: [{ host: HOST, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'target', port: { number: 80 } } } }] } }] },
    }))
    let address = ''
    await until(ctx, `an address in Ingress ${NAME}'s status`, 60_000, async () => {
      address = (await k.run(['-n', NS, 'get', 'ingress', NAME, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'], { nothrow: true })).stdout.trim()
      return address ? undefined : 'no status.loadBalancer.ingress yet (Traefik publishes its Service\'s address)'
    })
    const answered = (r: { ok: boolean; text: string }) => (r.ok && r.text.trim() === 'target' ? undefined : `answered ${JSON.stringify(r.text.slice(0, 80))}`)
    const seen: string[] = []
    if (ctx.labExec) {
      await until(ctx, `http://${address}/ with Host ${HOST} from the lab network`, 30_000, async () => {
        const r = await ctx.labExec!(['curl', '-sS', '--max-time', '5', '-H', `Host: ${HOST}`, `http://${address}/`])
        return answered({ ok: r.code === 0, text: r.code === 0 ? r.stdout : r.stderr })
      }, 1_000)
      seen.push('the lab network')
    }
    if (readServiceForwards(ctx.stateDir)) {
      const hostAddress = () => readServiceForwards(ctx.stateDir)?.services.find((s) => s.namespace === INGRESS_NAMESPACE && s.name === INGRESS_NAME && s.port === 80)?.hostAddress
      await until(ctx, `a host forward of ${INGRESS_NAMESPACE}/${INGRESS_NAME}:80`, 30_000, async () => (hostAddress() ? undefined : 'not in the forwarder\'s services.json yet'))
      const at = hostAddress()!
      await until(ctx, `http://${at}/ with Host ${HOST} on the host`, 30_000, async () => answered(await hostGet(Number(at.split(':')[1]), 5_000, HOST)), 1_000)
      seen.push(`the host at ${at}`)
    }
    return `${HOST} -> target via ${address}, from ${seen.join(' and ') || 'the cluster only'}`
  },
}
