// cp:bootstrap — what TLS bootstrapping needs on the API server: the three ClusterRoleBindings
// (bootstrappers may create node CSRs, their client CSRs are auto-approved, and so are nodes'
// renewals; pki/bootstrap.ts) and a short-lived bootstrap token, made fresh by the `up` that has
// nodes to join and handed to kubelet:config in memory. It also publishes cluster-info and lets
// nodes run kube-proxy with their own identity, so workers of another config can join this control
// plane in `external` mode (pki/bootstrap.ts externalJoinManifest).

import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { bootstrapRbac, bootstrapTokenSecret, externalJoinManifest, generateBootstrapToken, parseBootstrapToken } from '../pki/bootstrap.ts'
import { stepInfo } from './index.ts'
import { controlPlane, kubectl, kubectlApply } from './kubectl.ts'
import type { Step, StepContext } from './types.ts'

const TOKEN_TTL_MS = 60 * 60_000
/** A token with less time left than this is replaced before nodes join with it. */
const MIN_LEFT_MS = 15 * 60_000

const bindingNames = () => bootstrapRbac().split('---\n').map((d) => (parse(d) as { metadata: { name: string } }).metadata.name)

interface StoredToken {
  token: string
  expires: string
}

const tokenFile = (ctx: StepContext) => path.join(ctx.stateDir, 'bootstrap-token.json')

/** The token this cluster's last `up` made, while it has enough time left. */
function storedToken(ctx: StepContext): StoredToken | undefined {
  if (!existsSync(tokenFile(ctx))) return undefined
  const t = JSON.parse(readFileSync(tokenFile(ctx), 'utf8')) as StoredToken
  return Date.parse(t.expires) - Date.now() > MIN_LEFT_MS ? t : undefined
}

/** Nodes that have not joined yet (no kubelet client kubeconfig). */
async function unjoined(ctx: StepContext): Promise<string[]> {
  const results = await Promise.all(ctx.nodes.map(async (n) => ((await n.runner.test`test -s /var/lib/kubelet/kubeconfig`) ? [] : [n.spec.name])))
  return results.flat()
}

/** cluster-info for workers of other configs: this control plane's lab address and CA. */
function externalJoin(ctx: StepContext): { manifest: string; clusterInfo: string } {
  const cp = controlPlane(ctx)
  if (!ctx.pki) throw new Error('internal: cp:bootstrap needs the managed PKI')
  const manifest = externalJoinManifest(`https://${cp.spec.address}:6443`, readFileSync(ctx.pki.ca.local, 'utf8'))
  const clusterInfo = (parseAllDocuments(manifest)[0]!.toJS() as { data: { kubeconfig: string } }).data.kubeconfig
  return { manifest, clusterInfo }
}

export const cpBootstrap: Step = {
  ...stepInfo('cp:bootstrap'),
  async check(ctx) {
    if (!(await kubectl(ctx, ['get', 'clusterrolebinding', ...bindingNames(), 'kubelab:node-proxier'], { nothrow: true })).ok) return false
    const info = await kubectl(ctx, ['-n', 'kube-public', 'get', 'configmap', 'cluster-info', '-o', 'jsonpath={.data.kubeconfig}'], { nothrow: true })
    if (!info.ok || info.stdout.trim() !== externalJoin(ctx).clusterInfo.trim()) return false
    if ((await unjoined(ctx)).length === 0) return true
    const t = storedToken(ctx)
    const id = t && parseBootstrapToken(t.token)?.id
    if (!t || !id || !(await kubectl(ctx, ['-n', 'kube-system', 'get', 'secret', `bootstrap-token-${id}`], { nothrow: true })).ok) return false
    ctx.shared.joinToken = t.token
    return true
  },
  async apply(ctx) {
    await kubectlApply(ctx, 'bootstrap-rbac', bootstrapRbac())
    await kubectlApply(ctx, 'external-join', externalJoin(ctx).manifest)
    if ((await unjoined(ctx)).length === 0) return
    const token = generateBootstrapToken()
    const expires = new Date(Date.now() + TOKEN_TTL_MS)
    await kubectlApply(ctx, 'bootstrap-token', bootstrapTokenSecret(token, expires))
    writeFileSync(tokenFile(ctx), JSON.stringify({ token, expires: expires.toISOString() } satisfies StoredToken), { mode: 0o600 })
  },
}
