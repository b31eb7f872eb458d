// Kubeconfigs built as data and serialised with `yaml`: one cluster (server + embedded CA), one
// user (embedded client cert + key, or a bootstrap token), one context. `parseKubeconfig` reads
// one back so the store can keep an embedded certificate that still fits its spec.

import { parse, stringify } from 'yaml'

export interface KubeconfigCluster {
  readonly clusterName: string
  readonly server: string
  readonly caPem: string
}

export type KubeconfigCredentials =
  | { readonly certPem: string; readonly keyPem: string }
  | { readonly token: string }

export interface ParsedKubeconfig {
  readonly server: string
  readonly caPem: string
  readonly certPem?: string
  readonly keyPem?: string
  readonly token?: string
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64')
const unb64 = (text: unknown) => (typeof text === 'string' ? Buffer.from(text, 'base64').toString('utf8') : undefined)

export function kubeconfig(cluster: KubeconfigCluster, userName: string, credentials: KubeconfigCredentials): string {
  const context = `${userName}@${cluster.clusterName}`
  const user = 'token' in credentials
    ? { token: credentials.token }
    : { 'client-certificate-data': b64(credentials.certPem), 'client-key-data': b64(credentials.keyPem) }
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster.clusterName, cluster: { 'certificate-authority-data': b64(cluster.caPem), server: cluster.server } }],
    contexts: [{ name: context, context: { cluster: cluster.clusterName, user: userName } }],
    'current-context': context,
    preferences: {},
    users: [{ name: userName, user }],
  }, { lineWidth: 0 })
}

/** The current context's server, CA and credentials; undefined when the text is not such a kubeconfig. */
export function parseKubeconfig(text: string): ParsedKubeconfig | undefined {
  try {
    const doc = parse(text) as Record<string, any> | null
    if (!doc || doc['kind'] !== 'Config') return undefined
    const ctx = (doc['contexts'] as any[] | undefined)?.find((c) => c?.name === doc['current-context'])?.context
    const cluster = (doc['clusters'] as any[] | undefined)?.find((c) => c?.name === ctx?.cluster)?.cluster
    const user = (doc['users'] as any[] | undefined)?.find((u) => u?.name === ctx?.user)?.user
    const caPem = unb64(cluster?.['certificate-authority-data'])
    if (typeof cluster?.server !== 'string' || caPem === undefined || !user) return undefined
    const certPem = unb64(user['client-certificate-data'])
    const keyPem = unb64(user['client-key-data'])
    return {
      server: cluster.server,
      caPem,
      ...(certPem !== undefined ? { certPem } : {}),
      ...(keyPem !== undefined ? { keyPem } : {}),
      ...(typeof user.token === 'string' ? { token: user.token as string } : {}),
    }
  } catch {
    return undefined
  }
}
