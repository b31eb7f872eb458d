// addons:coredns — the cluster DNS (addons/coredns.ts) applied from the control plane when
// `addons.coredns` is on: the local coredns image (runtime:workload-images imported it on every node), the
// kube-dns Service at kubernetes.dnsServiceIP (kubelet's clusterDNS). Check: every object carries
// the manifest's sha256 and the Deployment is Available; apply waits for that with a named timeout
// and the live reason (pods' states, the Deployment's condition).
// Not detected: hand edits of an object's spec that keep the annotation and the Deployment
// Available; and `kubectl apply` (three-way merge) never removes fields someone else added.

import { corednsManifest, COREDNS_NAMESPACE, MANIFEST_ANNOTATION, type CorednsManifest } from '../addons/coredns.ts'
import { upstream } from '../egress/upstream.ts'
import { corednsArtifact, corednsImageRef } from '../images/workloads.ts'
import type { Step, StepContext } from '../converge/step.ts'
import { waitFor } from '../converge/wait.ts'
import { kubectl, kubectlApply } from '../node/kubectl.ts'

const AVAILABLE_TIMEOUT_MS = 180_000

function manifest(ctx: StepContext): CorednsManifest {
  const artifact = corednsArtifact(ctx.artifacts)
  if (!artifact) throw new Error('addons.coredns is on but the resolved artifacts have no coredns binary')
  return corednsManifest({
    image: corednsImageRef(artifact.version),
    dnsServiceIP: ctx.config.kubernetes.dnsServiceIP,
    clusterDomain: ctx.config.kubernetes.clusterDomain,
    replicas: Math.min(2, ctx.config.nodes.length),
    upstream: upstream(ctx.config),
  })
}

interface Obj {
  kind: string
  metadata: { name: string; generation?: number; annotations?: Record<string, string> }
  spec?: { replicas?: number }
  status?: {
    observedGeneration?: number
    replicas?: number
    updatedReplicas?: number
    availableReplicas?: number
    conditions?: { type: string; status: string; reason?: string; message?: string }[]
  }
}

/**
 * Why a Deployment's rollout is not complete (undefined when it is): every replica at the current
 * template and available, no old pod left. A Corefile change rolls the pods, and until the old ones
 * are gone they still answer with the old Corefile (an egress switch would seem not to work yet).
 */
export function rolloutPending(d: Obj): string | undefined {
  const want = d.spec?.replicas ?? 1
  const st = d.status ?? {}
  if ((st.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) return 'the Deployment controller has not seen the new template yet'
  if ((st.updatedReplicas ?? 0) < want) return `rolling out: ${st.updatedReplicas ?? 0} of ${want} pods at the new template`
  if ((st.replicas ?? 0) > want) return `rolling out: ${(st.replicas ?? 0) - want} old pod(s) still running`
  if ((st.availableReplicas ?? 0) < want) return `rolling out: ${st.availableReplicas ?? 0} of ${want} pods available`
  return undefined
}

/** Why the applied addon is not (yet) what `m` describes; undefined when it is, Available and rolled out. */
async function notConverged(ctx: StepContext, m: CorednsManifest): Promise<string | undefined> {
  const r = await kubectl(ctx.nodes, ['-n', COREDNS_NAMESPACE, 'get', ...m.objects, '-o', 'json', '--ignore-not-found'], { nothrow: true })
  if (!r.ok) return `kubectl get failed: ${r.stderr.trim()}`
  const items = r.stdout.trim() ? (JSON.parse(r.stdout) as { items?: Obj[] }).items ?? [] : []
  const stale = m.objects.filter((o) => !items.some((i) => `${i.kind.toLowerCase()}/${i.metadata.name}` === o
    && i.metadata.annotations?.[MANIFEST_ANNOTATION] === m.sha256))
  if (stale.length) return `not applied at this manifest: ${stale.join(', ')}`
  const deployment = items.find((i) => i.kind === 'Deployment')
  const available = deployment?.status?.conditions?.find((c) => c.type === 'Available')
  if (available?.status !== 'True') return await unavailableReason(ctx, available)
  return rolloutPending(deployment!)
}

interface Pod {
  metadata: { name: string }
  spec: { nodeName?: string }
  status: {
    phase?: string
    conditions?: { type: string; status: string; message?: string }[]
    containerStatuses?: { ready: boolean; state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string } } }[]
  }
}

/** One pod as a timeout should describe it: phase, node, and why it is not ready. */
export function describePod(p: Pod): string {
  const unscheduled = p.status.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')
  const c = p.status.containerStatuses?.[0]
  const why = unscheduled ? `unschedulable: ${unscheduled.message ?? ''}`
    : c?.state?.waiting ? `waiting: ${c.state.waiting.reason ?? ''} ${c.state.waiting.message ?? ''}`.trim()
      : c?.state?.terminated ? `terminated: ${c.state.terminated.reason ?? ''}`
        : c && !c.ready ? 'not ready (readiness probe)' : ''
  return `${p.metadata.name} ${p.status.phase ?? '?'}${p.spec.nodeName ? ` on ${p.spec.nodeName}` : ''}${why ? ` (${why})` : ''}`
}

/** The Deployment's condition plus each pod's state: what a timeout should say. */
async function unavailableReason(ctx: StepContext, c?: { status: string; reason?: string; message?: string }): Promise<string> {
  const r = await kubectl(ctx.nodes, ['-n', COREDNS_NAMESPACE, 'get', 'pods', '-l', 'k8s-app=kube-dns', '-o', 'json'], { nothrow: true })
  const pods = r.ok ? (JSON.parse(r.stdout) as { items: Pod[] }).items.map(describePod) : [`(kubectl get pods failed: ${r.stderr.trim()})`]
  const condition = c ? `Available=${c.status} (${c.reason ?? ''}: ${c.message ?? ''})` : 'no Available condition yet'
  return `${condition}; pods: ${pods.join('; ') || 'none'}`
}

export const addonsCoredns: Step = {
  id: 'addons:coredns',
  title: 'Deploying CoreDNS (cluster DNS)',
  on: 'control-plane',
  when: (config) => config.controlPlane.mode === 'managed' && config.addons.coredns,
  // After every node is Ready with kube-proxy synced: a CoreDNS pod that starts before its node's
  // Service rules exist dials the API's ClusterIP into the void and waits out a 30 s connect timeout.
  waitsFor: ['nodes:ready'],
  check: async (ctx) => (await notConverged(ctx, manifest(ctx))) === undefined,
  async apply(ctx, node) {
    const m = manifest(ctx)
    await kubectlApply(ctx.nodes, 'coredns', m.yaml)
    await waitFor('the CoreDNS Deployment to be Available', {
      timeoutMs: AVAILABLE_TIMEOUT_MS,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onReason: (r) => ctx.progress.status(`${node.spec.name}: ${r}`),
    }, () => notConverged(ctx, m))
  },
}
