// TLS bootstrap for joining kubelets (checklists 3b, variant B): the bootstrap token
// (`[a-z0-9]{6}.[a-z0-9]{16}`, crypto randomness), its kube-system Secret, and the three
// ClusterRoleBindings that let bootstrappers create node CSRs and get them auto-approved.
// The token is a secret: it lives only in the Secret manifest and the bootstrap kubeconfig.

import { randomInt } from 'node:crypto'
import { parse, stringify } from 'yaml'

export const TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/
/** Extra group of tokens kubelab makes (kubeadm's is system:bootstrappers:kubeadm:default-node-token). */
export const BOOTSTRAP_GROUP = 'system:bootstrappers:kubelab:default-node-token'
export const DEFAULT_TOKEN_TTL_HOURS = 24

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

function randomString(length: number): string {
  let out = ''
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)]
  return out
}

export function generateBootstrapToken(): string {
  return `${randomString(6)}.${randomString(16)}`
}

export function parseBootstrapToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_PATTERN.exec(token)
  return m ? { id: m[1]!, secret: m[2]! } : undefined
}

/** RFC 3339 in UTC, whole seconds (what kubeadm writes). */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The `kube-system/bootstrap-token-<id>` Secret for `token`, valid until `expiration`. */
export function bootstrapTokenSecret(token: string, expiration: Date): string {
  const parsed = parseBootstrapToken(token)
  if (!parsed) throw new TypeError('bootstrap token does not match [a-z0-9]{6}.[a-z0-9]{16}')
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bootstrap-token-${parsed.id}`, namespace: 'kube-system' },
    type: 'bootstrap.kubernetes.io/token',
    stringData: {
      description: 'kubelab: kubelet TLS bootstrap',
      'token-id': parsed.id,
      'token-secret': parsed.secret,
      expiration: rfc3339(expiration),
      'usage-bootstrap-authentication': 'true',
      'usage-bootstrap-signing': 'true',
      'auth-extra-groups': BOOTSTRAP_GROUP,
    },
  }, { lineWidth: 0 })
}

/** Token and expiration back from a Secret manifest written by bootstrapTokenSecret. */
export function parseBootstrapTokenSecret(text: string): { token: string; expiration: Date } | undefined {
  try {
    const doc = parse(text) as { kind?: unknown; stringData?: Record<string, unknown> } | null
    if (doc?.kind !== 'Secret') return undefined
    const data = doc.stringData
    const token = `${data?.['token-id']}.${data?.['token-secret']}`
    const expiration = new Date(String(data?.expiration))
    if (!parseBootstrapToken(token) || Number.isNaN(expiration.getTime())) return undefined
    return { token, expiration }
  } catch {
    return undefined
  }
}

const GROUP_KIND = { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io' } as const

function binding(name: string, group: string, clusterRole: string) {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    subjects: [{ ...GROUP_KIND, name: group }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
  }
}

/** The three bindings of the TLS-bootstrap recipe, as one multi-document YAML. */
export function bootstrapRbac(): string {
  const csr = 'system:certificates.k8s.io:certificatesigningrequests'
  return [
    binding('create-csrs-for-bootstrapping', 'system:bootstrappers', 'system:node-bootstrapper'),
    binding('auto-approve-csrs-for-group', 'system:bootstrappers', `${csr}:nodeclient`),
    binding('auto-approve-renewals-for-nodes', 'system:nodes', `${csr}:selfnodeclient`),
  ].map((doc) => stringify(doc, { lineWidth: 0 })).join('---\n')
}

/**
 * What lets workers join this control plane from elsewhere (`controlPlane: external` in another
 * kubelab config, or `kubeadm join`): the public kube-public/cluster-info ConfigMap (server + CA,
 * signed per token by the bootstrapsigner controller) readable by anonymous clients, and
 * system:node-proxier for group system:nodes (such workers run kube-proxy with their node identity).
 */
export function externalJoinManifest(server: string, caPem: string): string {
  const clusterInfo = kubeconfigForClusterInfo(server, caPem)
  const docs = [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' }, data: { kubeconfig: clusterInfo } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'kubelab:cluster-info-reader', namespace: 'kube-public' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['cluster-info'], verbs: ['get'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'kubelab:cluster-info-reader', namespace: 'kube-public' },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'system:anonymous' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kubelab:cluster-info-reader' },
    },
    binding('kubelab:node-proxier', 'system:nodes', 'system:node-proxier'),
  ]
  return docs.map((doc) => stringify(doc, { lineWidth: 0 })).join('---\n')
}

/** cluster-info's kubeconfig: one cluster, no user (as kubeadm publishes it). */
function kubeconfigForClusterInfo(server: string, caPem: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: '', cluster: { 'certificate-authority-data': Buffer.from(caPem).toString('base64'), server } }],
    contexts: [],
    'current-context': '',
    preferences: {},
    users: [],
  }, { lineWidth: 0 })
}
