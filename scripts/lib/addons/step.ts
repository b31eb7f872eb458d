// The converge step of an addon applied as a manifest (addons/manifest.ts), from the control plane:
//  - on (`addons.<name>`): every object carries the manifest's sha256 and every Deployment the
//    addon names is Available and rolled out (plus the addon's own readiness, e.g. an APIService
//    Available); apply waits for that with a named timeout and the live reason (pods' states, the
//    Deployment's condition).
//  - off: nothing labelled kubelab.io/addon=<name> is left in the cluster; apply deletes it all
//    (one `kubectl delete` over ADDON_KINDS) and waits for the deletion.
// Not detected: hand edits of an object's spec that keep the annotation and the Deployment
// Available; and `kubectl apply` (three-way merge) never removes fields someone else added.

import { addonEnabled, type AddonsConfig } from '../config/types.ts'
import type { Step, StepContext } from '../converge/step.ts'
import { waitFor } from '../converge/wait.ts'
import { apiGet, hostReadsApi, objectPath } from '../node/cluster-api.ts'
import { kubectl, kubectlApply } from '../node/kubectl.ts'
import { ADDON_KINDS, ADDON_LABEL, MANIFEST_ANNOTATION, type AddonManifest } from './manifest.ts'

export interface ManifestAddonSpec {
  /** The addon's key under `addons:` and its label value. */
  readonly name: keyof AddonsConfig
  /** What the progress line says while it is applied. */
  readonly title: string
  readonly manifest: (ctx: StepContext) => AddonManifest
  /** The Deployments that must be Available and rolled out, with their pods' label selector. */
  readonly deployments: readonly { readonly namespace: string; readonly name: string; readonly selector: string }[]
  /** The DaemonSets that must have a ready, current pod on every node they schedule to. */
  readonly daemonSets?: readonly { readonly namespace: string; readonly name: string; readonly selector: string }[]
  /**
   * Objects of the addon's own kinds (its CRDs' custom resources), applied once the rest is ready:
   * before that the API refuses them (CRDs not established, the addon's webhook not answering), so
   * their apply is retried until it is accepted.
   */
  readonly resources?: (ctx: StepContext) => AddonManifest
  /** More readiness once the Deployments are (an APIService Available); undefined when ready. */
  readonly ready?: (ctx: StepContext) => Promise<string | undefined>
  readonly timeoutMs?: number
}

interface Obj {
  kind: string
  metadata: { name: string; namespace?: string; generation?: number; annotations?: Record<string, string> }
  spec?: { replicas?: number }
  status?: {
    observedGeneration?: number
    replicas?: number
    updatedReplicas?: number
    availableReplicas?: number
    conditions?: { type: string; status: string; reason?: string; message?: string }[]
    desiredNumberScheduled?: number
    numberReady?: number
    updatedNumberScheduled?: number
  }
}

/** Why a DaemonSet is not ready everywhere at its current template (undefined when it is). */
export function daemonSetPending(d: Obj): string | undefined {
  const st = d.status ?? {}
  const want = st.desiredNumberScheduled ?? 0
  if ((st.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) return 'the DaemonSet controller has not seen the new template yet'
  if (want === 0) return 'no node to run on yet'
  if ((st.updatedNumberScheduled ?? 0) < want) return `rolling out: ${st.updatedNumberScheduled ?? 0} of ${want} pods at the new template`
  if ((st.numberReady ?? 0) < want) return `${st.numberReady ?? 0} of ${want} pods ready`
  return undefined
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

type Workload = ManifestAddonSpec['deployments'][number]

/** Each pod of a workload as a timeout should describe it. */
async function podStates(ctx: StepContext, d: Workload): Promise<string> {
  const r = await kubectl(ctx.nodes, ['-n', d.namespace, 'get', 'pods', '-l', d.selector, '-o', 'json'], { nothrow: true })
  const pods = r.ok ? (JSON.parse(r.stdout) as { items: Pod[] }).items.map(describePod) : [`(kubectl get pods failed: ${r.stderr.trim()})`]
  return pods.join('; ') || 'none'
}

/** The Deployment's condition plus each pod's state: what a timeout should say. */
async function unavailableReason(ctx: StepContext, d: Workload, c?: { status: string; reason?: string; message?: string }): Promise<string> {
  const condition = c ? `Available=${c.status} (${c.reason ?? ''}: ${c.message ?? ''})` : 'no Available condition yet'
  return `${d.namespace}/${d.name}: ${condition}; pods: ${await podStates(ctx, d)}`
}

/** Kinds whose status the checks read; of the others only the metadata is fetched. */
const STATUS_KINDS = new Set(['Deployment', 'DaemonSet'])

/**
 * The objects of `m` as the cluster has them (a reason string when a read fails): one GET each
 * from the host where it reaches the API server, else one `kubectl get` per namespace on the node.
 */
async function objectsOf(ctx: StepContext, m: AddonManifest): Promise<Obj[] | string> {
  if (hostReadsApi(ctx)) {
    const replies = await Promise.all(m.refs.map(async (ref) => ({ ref, r: await apiGet(ctx, objectPath(ref), { metadataOnly: !STATUS_KINDS.has(ref.kind) }) })))
    const failed = replies.find(({ r }) => r.status !== 200 && r.status !== 404)
    if (failed) return `reading ${failed.ref.kind} ${failed.ref.name} failed: ${failed.r.error ?? `HTTP ${failed.r.status}`}`
    // A metadata-only answer says `kind: PartialObjectMetadata`: the kind is the manifest's.
    return replies.filter(({ r }) => r.status === 200).map(({ ref, r }) => ({ ...JSON.parse(r.body) as Obj, kind: ref.kind }))
  }
  const items: Obj[] = []
  for (const [ns, objects] of m.byNamespace) {
    const r = await kubectl(ctx.nodes, [...(ns ? ['-n', ns] : []), 'get', ...objects, '-o', 'json', '--ignore-not-found'], { nothrow: true })
    if (!r.ok) return `kubectl get failed: ${r.stderr.trim()}`
    const got = r.stdout.trim() ? JSON.parse(r.stdout) as Obj & { items?: Obj[] } : undefined
    // One object comes back as itself, several as a List.
    items.push(...(got ? got.items ?? [got] : []))
  }
  return items
}

/**
 * Old pods still terminating (undefined when none). The Deployment no longer counts them, yet a
 * CoreDNS pod answers for seconds after its stop (lameduck) and the Service may still send to it:
 * a rollout is done when they are gone.
 */
async function terminating(ctx: StepContext, d: Workload): Promise<string | undefined> {
  const r = await apiGet(ctx, `/api/v1/namespaces/${d.namespace}/pods?labelSelector=${encodeURIComponent(d.selector)}`)
  if (r.status !== 200) return `reading its pods failed: ${r.error ?? `HTTP ${r.status}`}`
  const old = (JSON.parse(r.body) as { items: { metadata: { name: string; deletionTimestamp?: string } }[] }).items.filter((p) => p.metadata.deletionTimestamp)
  return old.length ? `rolling out: old pod(s) ${old.map((p) => p.metadata.name).join(', ')} still terminating` : undefined
}

/** Which objects of `m` are missing or carry another manifest's sha256; undefined when none. */
function stale(m: AddonManifest, items: readonly Obj[]): string | undefined {
  const key = (ns: string | undefined, o: string) => `${ns ?? ''}/${o}`
  const fresh = new Set(items.filter((i) => i.metadata.annotations?.[MANIFEST_ANNOTATION] === m.sha256)
    .map((i) => key(i.metadata.namespace, `${i.kind.toLowerCase()}/${i.metadata.name}`)))
  const old = [...m.byNamespace].flatMap(([ns, objects]) => objects.filter((o) => !fresh.has(key(ns || undefined, o))))
  return old.length ? `not applied at this manifest: ${old.join(', ')}` : undefined
}

/** Why the applied addon is not (yet) what `m` (and `resources`) describe; undefined when it is, Available and rolled out. */
async function notConverged(ctx: StepContext, spec: ManifestAddonSpec, m: AddonManifest, resources?: AddonManifest): Promise<string | undefined> {
  const items = await objectsOf(ctx, m)
  if (typeof items === 'string') return items
  const old = stale(m, items)
  if (old) return old
  const find = (kind: string, d: Workload) => items.find((i) => i.kind === kind && i.metadata.name === d.name && i.metadata.namespace === d.namespace)
  for (const d of spec.deployments) {
    const deployment = find('Deployment', d)
    const available = deployment?.status?.conditions?.find((c) => c.type === 'Available')
    if (available?.status !== 'True') return await unavailableReason(ctx, d, available)
    const pending = rolloutPending(deployment!) ?? await terminating(ctx, d)
    if (pending) return `${d.namespace}/${d.name}: ${pending}`
  }
  for (const d of spec.daemonSets ?? []) {
    const ds = find('DaemonSet', d)
    const pending = ds ? daemonSetPending(ds) : 'not in the cluster'
    if (pending) return `${d.namespace}/${d.name}: ${pending}; pods: ${await podStates(ctx, d)}`
  }
  if (resources) {
    const got = await objectsOf(ctx, resources)
    const old = typeof got === 'string' ? got : stale(resources, got)
    if (old) return old
  }
  return spec.ready ? await spec.ready(ctx) : undefined
}

/** What is left of a disabled addon: `kind/name` of every object labelled with it. */
async function leftovers(ctx: StepContext, name: string): Promise<string[]> {
  const r = await kubectl(ctx.nodes, ['get', ADDON_KINDS.join(','), '-A', '-l', `${ADDON_LABEL}=${name}`, '-o', 'name'])
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean)
}

export function manifestAddonStep(spec: ManifestAddonSpec): Step {
  const on = (ctx: StepContext) => addonEnabled(ctx.config, spec.name)
  return {
    id: `addons:${spec.name}`,
    title: spec.title,
    on: 'control-plane',
    // Off, the step still runs: it removes what an earlier `up` applied.
    when: (config) => config.controlPlane.mode === 'managed',
    // After every node is Ready with kube-proxy synced: a pod that starts before its node's Service
    // rules exist dials the API's ClusterIP into the void and waits out a 30 s connect timeout.
    // And once every node holds the addons' images (there is no registry to pull them from).
    waitsFor: ['nodes:ready', 'images:imported'],
    check: async (ctx) => on(ctx)
      ? (await notConverged(ctx, spec, spec.manifest(ctx), spec.resources?.(ctx))) === undefined
      : (await leftovers(ctx, spec.name)).length === 0,
    async apply(ctx, node) {
      if (!on(ctx)) {
        await kubectl(ctx.nodes, ['delete', ADDON_KINDS.join(','), '-A', '-l', `${ADDON_LABEL}=${spec.name}`, '--ignore-not-found', '--wait=true', '--timeout=120s'])
        return
      }
      const m = spec.manifest(ctx)
      const resources = spec.resources?.(ctx)
      const wait = {
        timeoutMs: spec.timeoutMs ?? 180_000,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onReason: (r: string) => ctx.progress.status(`${node.spec.name}: ${r}`),
      }
      await kubectlApply(ctx.nodes, spec.name, m.yaml)
      if (resources) {
        await waitFor(`addon ${spec.name} to be ready for its resources`, wait, () => notConverged(ctx, { ...spec, ready: undefined }, m))
        await waitFor(`addon ${spec.name}'s resources to be accepted`, wait, async () => {
          const r = await kubectlApply(ctx.nodes, `${spec.name}-resources`, resources.yaml, { nothrow: true })
          return r.ok ? undefined : `kubectl apply refused: ${r.stderr.trim().split('\n').pop()}`
        })
      }
      await waitFor(`addon ${spec.name} to be ready`, wait, () => notConverged(ctx, spec, m, resources))
    },
  }
}
