// Check 16: namespaces isolate: a ServiceAccount allowed to read Secrets in its own namespace cannot
// read those of another (RBAC, asked of the API server as that ServiceAccount).

import { manifest, NS, OTHER_NS } from '../fixtures.ts'
import type { SmokeCheck } from '../types.ts'

export const rbacIsolation: SmokeCheck = {
  id: 'rbac-isolation',
  title: 'a ServiceAccount in one namespace cannot read Secrets of another',
  timeoutMs: 45_000,
  async run(ctx) {
    const rbac = 'rbac.authorization.k8s.io'
    await ctx.kube.apply(manifest(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OTHER_NS } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'private', namespace: OTHER_NS }, stringData: { v: 'not for kubelab-smoke' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'own', namespace: NS }, stringData: { v: 'readable' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: NS } },
      { apiVersion: `${rbac}/v1`, kind: 'Role', metadata: { name: 'secret-reader', namespace: NS }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }] },
      { apiVersion: `${rbac}/v1`, kind: 'RoleBinding', metadata: { name: 'reader', namespace: NS }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: NS }], roleRef: { apiGroup: rbac, kind: 'Role', name: 'secret-reader' } },
    ))
    const as = `--as=system:serviceaccount:${NS}:reader`
    const own = await ctx.kube.run(['-n', NS, 'get', 'secret', 'own', as, '-o', 'name'], { nothrow: true })
    if (own.code !== 0) throw new Error(`the ServiceAccount cannot read its own namespace's Secret either: ${own.stderr.trim()}`)
    const other = await ctx.kube.run(['-n', OTHER_NS, 'get', 'secret', 'private', as, '-o', 'name'], { nothrow: true })
    if (other.code === 0) throw new Error(`system:serviceaccount:${NS}:reader read Secret ${OTHER_NS}/private`)
    if (!/forbidden/i.test(other.stderr)) throw new Error(`reading ${OTHER_NS}/private failed, but not as Forbidden: ${other.stderr.trim()}`)
    return `reader gets ${NS}/own, is Forbidden ${OTHER_NS}/private`
  },
}
