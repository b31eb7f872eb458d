// The workloads the checks share, made once per run in the `kubelab-smoke` namespace and removed at
// the end (unless --keep): a client pod on every node (busybox + probe, pinned with nodeName, so
// "same node" and "another node" are exact), and a `target` HTTP server on the first worker with a
// ClusterIP and a NodePort Service. Manifests are data; images are the locally imported testbox
// (or `smoke.image` from the config).

import { stringify } from 'yaml'
import type { Kube } from './kube.ts'
import type { ClusterConfig } from '../config/types.ts'
import { until, type WaitScale } from './wait.ts'

/** What the fixtures need of the smoke context (types.ts SmokeContext has it). */
type FixtureContext = WaitScale & { readonly config: ClusterConfig }

export const NS = 'kubelab-smoke'
/** A second namespace for the RBAC isolation check. */
export const OTHER_NS = 'kubelab-smoke-other'
/** The NetworkPolicy check's own namespace: its policies meet no other check's workloads. */
export const NETPOL_NS = 'kubelab-smoke-netpol'

export const manifest = (...docs: object[]) => docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n')

/** A client's PID 1: says it is ready, then idles; exits on SIGTERM (PID 1 has no default handler, so a bare sleep would hold a node's shutdown until systemd's stop timeout). */
const CLIENT_SCRIPT = 'trap "exit 0" TERM; echo smoke-client-ready; sleep 86400 & wait'

export interface PodInfo {
  name: string
  node: string
  ip: string
}

export interface Target extends PodInfo {
  clusterIP: string
  nodePort: number
}

interface PodJson {
  metadata: { name: string }
  spec: { nodeName?: string }
  status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { state?: Record<string, { reason?: string }> }[] }
}

/** Why a pod is not Ready yet (undefined when it is). */
export function podNotReady(p: PodJson | undefined): string | undefined {
  if (!p) return 'no pod yet'
  const ready = p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True'
  if (ready && p.status.podIP) return undefined
  const waiting = p.status.containerStatuses?.[0]?.state?.['waiting']?.reason
  return `${p.metadata.name} is ${p.status.phase ?? 'Pending'}${waiting ? ` (${waiting})` : ''}`
}

export function pod(name: string, node: string | undefined, image: string, command: string[], extra: { labels?: Record<string, string>; resources?: object; port?: number } = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { 'app.kubernetes.io/part-of': 'kubelab-smoke', ...extra.labels } },
    spec: {
      ...(node ? { nodeName: node } : {}),
      // Clients run on every node, the control plane too (nodeName bypasses the scheduler, not NoExecute).
      tolerations: [{ operator: 'Exists' }],
      terminationGracePeriodSeconds: 1,
      restartPolicy: 'Always',
      containers: [{
        name: 'main',
        image,
        imagePullPolicy: 'IfNotPresent',
        command,
        ...(extra.port ? { ports: [{ containerPort: extra.port }], readinessProbe: { httpGet: { path: '/healthz', port: extra.port }, periodSeconds: 1 } } : {}),
        ...(extra.resources ? { resources: extra.resources } : {}),
      }],
    },
  }
}

export class Fixtures {
  private clientsP?: Promise<Map<string, PodInfo>>
  private targetP?: Promise<Target>

  constructor(readonly kube: Kube, readonly image: string) {}

  async namespace(ctx: WaitScale): Promise<void> {
    // A namespace from a previous run may still be terminating: wait it out, then make it anew.
    await until(ctx, `namespace ${NS} from a previous run to go`, 120_000, async () => {
      const r = await this.kube.run(['get', 'namespace', NS, '-o', 'jsonpath={.status.phase}'], { nothrow: true })
      return r.code === 0 && r.stdout === 'Terminating' ? 'still terminating' : undefined
    })
    await this.kube.apply(manifest({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }))
  }

  async podInfo(name: string): Promise<PodJson | undefined> {
    const r = await this.kube.run(['-n', NS, 'get', 'pod', name, '-o', 'json'], { nothrow: true })
    return r.code === 0 ? JSON.parse(r.stdout) as PodJson : undefined
  }

  async waitPod(ctx: WaitScale, name: string, timeoutMs = 90_000): Promise<PodInfo> {
    let last: PodJson | undefined
    await until(ctx, `pod ${name} Ready`, timeoutMs, async () => podNotReady(last = await this.podInfo(name)))
    return { name, node: last!.spec.nodeName ?? '', ip: last!.status.podIP ?? '' }
  }

  /** A client pod on every node, by node name. */
  clients(ctx: FixtureContext): Promise<Map<string, PodInfo>> {
    this.clientsP ??= (async () => {
      const nodes = ctx.config.nodes.map((n) => n.name)
      await this.kube.apply(manifest(...nodes.map((n) => pod(`client-${n}`, n, this.image, ['sh', '-c', CLIENT_SCRIPT]))))
      const infos = await Promise.all(nodes.map((n) => this.waitPod(ctx, `client-${n}`)))
      return new Map(infos.map((p) => [p.node, p]))
    })()
    return this.clientsP
  }

  /** The HTTP server on the first worker with its ClusterIP and NodePort Services. */
  target(ctx: FixtureContext): Promise<Target> {
    this.targetP ??= (async () => {
      const node = ctx.config.nodes.find((n) => n.role === 'worker')!.name
      const svc = (name: string, type: 'ClusterIP' | 'NodePort') => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: NS },
        spec: { type, selector: { app: 'target' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] },
      })
      await this.kube.apply(manifest(pod('target', node, this.image, ['/bin/probe', 'serve', '--port', '8080'], { labels: { app: 'target' }, port: 8080 }), svc('target', 'ClusterIP'), svc('target-np', 'NodePort')))
      const info = await this.waitPod(ctx, 'target')
      const clusterIP = (await this.kube.run(['-n', NS, 'get', 'svc', 'target', '-o', 'jsonpath={.spec.clusterIP}'])).stdout
      const nodePort = Number((await this.kube.run(['-n', NS, 'get', 'svc', 'target-np', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).stdout)
      return { ...info, clusterIP, nodePort }
    })()
    return this.targetP
  }

  /** Runs argv in a pod; returns stdout (throws with stderr on failure). */
  async exec(pod: string, argv: readonly string[], timeoutMs = 30_000): Promise<string> {
    return (await this.kube.run(['-n', NS, 'exec', pod, '--', ...argv], { timeoutMs })).stdout
  }

  /**
   * Removes what the run made and waits (bounded) until it is gone: a suite that returned leaves no
   * terminating pod behind, so a drain right after it (`kubelab upgrade`) finds nothing unmanaged.
   */
  async cleanup(): Promise<void> {
    await this.kube.run(['delete', 'namespace', NS, OTHER_NS, NETPOL_NS, '--ignore-not-found', '--wait=true', '--timeout=120s'], { nothrow: true, timeoutMs: 130_000 })
  }

  /** Forget pod facts after a restart (IPs may change). */
  forget(): void {
    this.clientsP = undefined
    this.targetP = undefined
  }
}
