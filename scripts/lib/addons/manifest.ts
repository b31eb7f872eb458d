// An addon's manifest as data: the objects it applies, each labelled with the addon's name (what
// `kubelab addons` reads and what turning the addon off deletes) and annotated with the sha256 of
// the objects without the annotation (what the addon's step compares, so an unchanged manifest is
// never re-applied).

import { createHash } from 'node:crypto'
import { stringify } from 'yaml'

/** Annotation carrying the sha256 of the manifest without it, on every object (the step's check). */
export const MANIFEST_ANNOTATION = 'kubelab.io/manifest-sha256'
/** Label naming the addon (its `addons:` key) on every object it applies. */
export const ADDON_LABEL = 'kubelab.io/addon'

/**
 * Every kind an addon may apply, for the one `kubectl delete -l kubelab.io/addon=NAME` that removes
 * a disabled addon. An addon applying another kind adds it here (the unit test checks).
 */
export const ADDON_KINDS = [
  'apiservice', 'deployment', 'daemonset', 'service', 'configmap', 'serviceaccount', 'role', 'rolebinding',
  'clusterrole', 'clusterrolebinding', 'storageclass', 'namespace', 'secret',
  'customresourcedefinition', 'validatingwebhookconfiguration', 'ingressclass',
] as const

export type Doc = {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  [k: string]: unknown
}

export interface AddonManifest {
  /** Multi-document YAML, every object labelled with the addon and annotated with `sha256`. */
  readonly yaml: string
  /** sha256 of the labelled objects without the annotation: what the step records and compares. */
  readonly sha256: string
  /** `kind/name` of every object, in apply order. */
  readonly objects: readonly string[]
  /** Namespaced objects by namespace (cluster-scoped under ''), for one `kubectl get` each. */
  readonly byNamespace: ReadonlyMap<string, readonly string[]>
  /** Each object's apiVersion, kind, name and namespace (its path in the API: node/cluster-api.ts). */
  readonly refs: readonly ObjectRef[]
}

export interface ObjectRef {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly namespace?: string | undefined
}

/** The objects as the addon `addon` applies them, in order. */
export function addonManifest(addon: string, docs: readonly Doc[]): AddonManifest {
  const labelled = docs.map((d) => ({ ...d, metadata: { ...d.metadata, labels: { ...d.metadata.labels, [ADDON_LABEL]: addon } } }))
  const sha256 = createHash('sha256').update(JSON.stringify(labelled)).digest('hex')
  const annotated = labelled.map((d) => ({ ...d, metadata: { ...d.metadata, annotations: { ...d.metadata.annotations, [MANIFEST_ANNOTATION]: sha256 } } }))
  const byNamespace = new Map<string, string[]>()
  for (const d of docs) {
    const ns = d.metadata.namespace ?? ''
    byNamespace.set(ns, [...byNamespace.get(ns) ?? [], `${d.kind.toLowerCase()}/${d.metadata.name}`])
  }
  let yaml: string | undefined
  return {
    // Written only when the step applies it (a re-run that finds the manifest in place never does).
    get yaml() { return yaml ??= annotated.map((d) => stringify(d, { lineWidth: 0 })).join('---\n') },
    sha256,
    objects: docs.map((d) => `${d.kind.toLowerCase()}/${d.metadata.name}`),
    byNamespace,
    refs: docs.map((d) => ({ apiVersion: d.apiVersion, kind: d.kind, name: d.metadata.name, namespace: d.metadata.namespace })),
  }
}
