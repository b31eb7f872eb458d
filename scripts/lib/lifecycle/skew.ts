// The Kubernetes version-skew policy, checked before an upgrade changes anything (pure):
// - no downgrade (of the control plane or of any kubelet);
// - the control plane moves at most one minor version at a time;
// - a kubelet (and kube-proxy) is never newer than kube-apiserver, and at most 3 minors older;
// - the target is a version kubelab supports.
// Upgrades then go control plane first, workers after, so every intermediate state keeps the policy.

import { isSupported, parseVersion, supportedRange, type ParsedVersion } from '../versions.ts'

export interface LiveVersions {
  /** kube-apiserver's gitVersion (`kubectl version`), e.g. v1.34.4. */
  apiserver: string
  /** Node name -> kubelet version (`.status.nodeInfo.kubeletVersion`). */
  kubelets: Readonly<Record<string, string>>
}

export interface SkewVerdict {
  ok: boolean
  /** Why the upgrade is refused (empty when ok). */
  problems: string[]
  /** Node name -> current -> target, for nodes that change. */
  changes: { node: string; from: string; to: string }[]
  /** Nothing to change: every component already runs the target. */
  upToDate: boolean
}

const cmp = (a: ParsedVersion, b: ParsedVersion) => a.major - b.major || a.minor - b.minor || a.patch - b.patch
/** The "v1.34.4" part of "v1.34.4", "v1.34.4+k3s1" or "v1.34.4-dirty". */
const core = (v: string) => /^v\d+\.\d+\.\d+/.exec(v)?.[0] ?? v

export function checkSkew(live: LiveVersions, target: string): SkewVerdict {
  const problems: string[] = []
  const to = parseVersion(target)
  const api = parseVersion(core(live.apiserver))
  if (!to) return { ok: false, problems: [`target ${target} is not a version (vMAJOR.MINOR.PATCH)`], changes: [], upToDate: false }
  if (!isSupported(to)) problems.push(`target ${target} is outside the supported range ${supportedRange()}`)
  if (!api) problems.push(`cannot read the API server's version (${live.apiserver || 'empty'})`)
  else {
    if (cmp(to, api) < 0) problems.push(`downgrade refused: the control plane runs ${core(live.apiserver)}, the target ${target} is older (restore the backup or rebuild the cluster instead)`)
    if (to.major !== api.major || to.minor - api.minor > 1) {
      problems.push(`the control plane moves one minor version at a time: it runs ${core(live.apiserver)}, so upgrade to v${api.major}.${api.minor + 1}.x first, then to ${target}`)
    }
  }
  for (const [node, v] of Object.entries(live.kubelets)) {
    const k = parseVersion(core(v))
    if (!k) { problems.push(`cannot read the kubelet version of ${node} (${v || 'empty'})`); continue }
    if (cmp(to, k) < 0) problems.push(`downgrade refused: kubelet on ${node} runs ${core(v)}, newer than the target ${target}`)
    else if (to.minor - k.minor > 3) problems.push(`kubelet on ${node} runs ${core(v)}, more than 3 minor versions older than the target ${target}: upgrade it in steps first`)
  }
  const changes = [
    ...(api && cmp(api, to) !== 0 ? [{ node: 'control plane (kube-apiserver)', from: core(live.apiserver), to: target }] : []),
    ...Object.entries(live.kubelets).filter(([, v]) => core(v) !== target).map(([node, v]) => ({ node, from: core(v), to: target })),
  ]
  return { ok: problems.length === 0, problems, changes, upToDate: problems.length === 0 && changes.length === 0 }
}

/** After the control plane runs `apiserver`, may a kubelet at `kubelet` stay as it is? */
export function kubeletWithinSkew(apiserver: string, kubelet: string): boolean {
  const a = parseVersion(core(apiserver))
  const k = parseVersion(core(kubelet))
  return !!a && !!k && a.major === k.major && cmp(k, a) <= 0 && a.minor - k.minor <= 3
}
