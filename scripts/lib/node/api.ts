// The API server as a joining worker sees it, for `controlPlane: external` (kubelab holds no admin
// credentials there and never SSHes to that control plane): curl on the node itself, pinned to the
// cluster CA, anonymous, with the bootstrap token, or with kubelet's own client certificate.

import { parse } from 'yaml'
import type { ClusterConfig } from '../config/types.ts'
import { JoinError } from '../errors.ts'
import type { Result } from '../remote/types.ts'
import { CA_FILE, KUBELET_CLIENT_CERT as CLIENT_CERT, KUBELET_KUBECONFIG } from './paths.ts'
import type { NodeHandle } from './types.ts'

export type NodeApiAuth =
  /** No credentials and no CA yet: only for the public cluster-info ConfigMap. */
  | { kind: 'anonymous-insecure' }
  /** The bootstrap token, sent as a header from a 0600 file (never on a command line). */
  | { kind: 'token'; token: string }
  /** kubelet's client certificate (after the join). */
  | { kind: 'node' }

export interface ApiReply {
  /** HTTP status; 0 when the request never got an answer (curl's error is in `error`). */
  status: number
  body: string
  error?: string
}

/** One request from the node to `server`; never throws for HTTP errors, only for SSH ones. */
export async function nodeApi(node: NodeHandle, server: string, auth: NodeApiAuth, method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiReply> {
  const url = `${server.replace(/\/$/, '')}${path}`
  const tls = auth.kind === 'anonymous-insecure' ? ['-k'] : ['--cacert', CA_FILE]
  const creds = auth.kind === 'node' ? ['--cert', CLIENT_CERT, '--key', CLIENT_CERT] : []
  const data = body === undefined ? [] : ['-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body)]
  const header = '/run/kubelab-api-header'
  if (auth.kind === 'token') await node.runner.writeFile(header, `Authorization: Bearer ${auth.token}\n`, 0o600)
  const headerArgs = auth.kind === 'token' ? ['-H', `@${header}`] : []
  let r: Result
  try {
    r = await node.runner.$({ nothrow: true })`curl -sS --max-time 10 -X ${method} ${tls} ${creds} ${headerArgs} ${data} -w '\n%{http_code}' ${url}`
  } finally {
    if (auth.kind === 'token') await node.runner.$({ nothrow: true })`rm -f ${header}`
  }
  const lines = r.stdout.replace(/\n$/, '').split('\n')
  const status = Number(lines.pop() ?? 0)
  return { status: Number.isFinite(status) ? status : 0, body: lines.join('\n'), ...(r.ok ? {} : { error: r.stderr.trim() || `curl exited ${r.exitCode}` }) }
}

/** The server kubelet's own kubeconfig names (after the join). */
export async function kubeletServer(node: NodeHandle): Promise<string | undefined> {
  const r = await node.runner.$({ nothrow: true })`cat ${KUBELET_KUBECONFIG}`
  if (!r.ok) return undefined
  const doc = parse(r.stdout) as { clusters?: { cluster?: { server?: string } }[] } | null
  return doc?.clusters?.[0]?.cluster?.server
}

/** The bootstrap token for an external control plane, from the environment variable the config names (checked at load). */
export function externalToken(config: ClusterConfig): string {
  const cp = config.controlPlane
  const token = config.secrets.bootstrapToken
  if (!token) throw new JoinError(`environment variable ${cp.mode === 'external' ? cp.tokenEnv : '(none)'} holds no bootstrap token`)
  return token
}
