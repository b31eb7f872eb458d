// cp:bootstrap — what TLS bootstrapping needs on the API server: the three ClusterRoleBindings
// (bootstrappers may create node CSRs, their client CSRs are auto-approved, and so are nodes'
// renewals; pki/bootstrap.ts) and, while a node still has to join, the Secret of the cluster's join
// token (a host-side input, converge/inputs.ts). It also publishes cluster-info and lets nodes run
// kube-proxy with their own identity, so workers of another config can join this control plane in
// `external` mode (pki/bootstrap.ts externalJoinManifest).

import { readFileSync } from 'node:fs'
import { parse, parseAllDocuments } from 'yaml'
import type { Step, StepContext } from '../converge/step.ts'
import { apiGet } from '../node/cluster-api.ts'
import { kubectlApply, controlPlaneOf } from '../node/kubectl.ts'
import { hasJoined } from '../node/joined.ts'
import { bootstrapRbac, bootstrapTokenSecret, externalJoinManifest, parseBootstrapToken } from '../pki/bootstrap.ts'

const bindingNames = () => bootstrapRbac().split('---\n').map((d) => (parse(d) as { metadata: { name: string } }).metadata.name)

/** Whether any node has not joined yet (no kubelet client certificate). */
async function someUnjoined(ctx: StepContext): Promise<boolean> {
  const joined = await Promise.all(ctx.nodes.map(hasJoined))
  return joined.some((j) => !j)
}

/** cluster-info for workers of other configs: this control plane's lab address and CA. */
function externalJoin(ctx: StepContext): { manifest: string; clusterInfo: string } {
  const cp = controlPlaneOf(ctx.nodes)
  if (!ctx.pki) throw new Error('internal: cp:bootstrap needs the managed PKI')
  const manifest = externalJoinManifest(`https://${cp.spec.address}:6443`, readFileSync(ctx.pki.ca.local, 'utf8'))
  const clusterInfo = (parseAllDocuments(manifest)[0]!.toJS() as { data: { kubeconfig: string } }).data.kubeconfig
  return { manifest, clusterInfo }
}

function token(ctx: StepContext): { token: string; expires: Date; id: string } {
  const t = ctx.joinToken
  const id = t && parseBootstrapToken(t.token)?.id
  if (!t || !id) throw new Error('internal: cp:bootstrap needs the join token (converge/inputs.ts)')
  return { ...t, id }
}

export const cpBootstrap: Step = {
  id: 'cp:bootstrap',
  title: 'Creating the bootstrap token and RBAC bindings',
  on: 'control-plane',
  when: (config) => config.controlPlane.mode === 'managed',
  after: ['cp:apiserver'],
  establishes: 'join:token',
  async check(ctx) {
    const bindings = await Promise.all([...bindingNames(), 'kubelab:node-proxier'].map((b) =>
      apiGet(ctx, `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${b}`, { metadataOnly: true })))
    if (bindings.some((r) => r.status !== 200)) return false
    const info = await apiGet(ctx, '/api/v1/namespaces/kube-public/configmaps/cluster-info')
    if (info.status !== 200 || (JSON.parse(info.body) as { data?: { kubeconfig?: string } }).data?.kubeconfig?.trim() !== externalJoin(ctx).clusterInfo.trim()) return false
    if (!(await someUnjoined(ctx))) return true
    return (await apiGet(ctx, `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${token(ctx).id}`, { metadataOnly: true })).status === 200
  },
  async apply(ctx) {
    await kubectlApply(ctx.nodes, 'bootstrap-rbac', bootstrapRbac())
    await kubectlApply(ctx.nodes, 'external-join', externalJoin(ctx).manifest)
    if (!(await someUnjoined(ctx))) return
    const t = token(ctx)
    await kubectlApply(ctx.nodes, 'bootstrap-token', bootstrapTokenSecret(t.token, t.expires))
  },
}
