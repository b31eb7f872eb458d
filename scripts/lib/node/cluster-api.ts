// Reads from the managed control plane's API server as the cluster admin, for the steps' checks
// and waits. From the host over HTTPS through the control plane's API-server forward (127.0.0.1;
// one kept-alive connection, nothing started on the node), where the machine has one and the host
// holds the admin credentials; otherwise (provider: ssh, or the forward not answering) with
// `kubectl get --raw` on the control plane over SSH. A kubectl start costs about 50 ms of CPU on
// the node: a re-run's checks make some twenty reads, on the same 2 cores as the cluster.

import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:https'
import { parseKubeconfig } from '../pki/kubeconfig.ts'
import type { PkiFiles } from '../pki/bundle.ts'
import { controlPlaneOf, kubectl } from './kubectl.ts'
import type { NodeHandle } from './types.ts'

export interface ApiReply {
  /** HTTP status; 0 when no answer came (the reason in `error`). */
  readonly status: number
  readonly body: string
  readonly error?: string
}

export interface ApiContext {
  readonly nodes: readonly NodeHandle[]
  readonly pki?: PkiFiles
  /** One round of checks: the same GET is made once (converge/runner.ts checkAll). */
  readonly reads?: Map<string, Promise<unknown>>
}

export interface GetOptions {
  /**
   * Only the object's metadata (`PartialObjectMetadata`: no spec, no status; `kind` then says
   * so). Through kubectl the whole object comes back: callers read metadata either way.
   */
  readonly metadataOnly?: boolean
}

/** An object's path in the API from its apiVersion, kind, name and namespace. */
export function objectPath(ref: { readonly apiVersion: string; readonly kind: string; readonly name: string; readonly namespace?: string | undefined }): string {
  const slash = ref.apiVersion.indexOf('/')
  const base = slash < 0 ? `/api/${ref.apiVersion}` : `/apis/${ref.apiVersion.slice(0, slash)}/${ref.apiVersion.slice(slash + 1)}`
  const ns = ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : ''
  return `${base}${ns}/${resourceOf(ref.kind)}/${encodeURIComponent(ref.name)}`
}

/** The resource (plural, lower case) of a kind, by English rule: IngressClass -> ingressclasses, NetworkPolicy -> networkpolicies. */
export function resourceOf(kind: string): string {
  const k = kind.toLowerCase()
  if (k.endsWith('s')) return `${k}es`
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`
  return `${k}s`
}

interface HostClient { readonly agent: Agent; readonly port: number }
const clients = new Map<string, HostClient | 'broken'>()

/** The host's way to the API server, when there is one. */
function hostClient(ctx: ApiContext): { key: string; client: HostClient } | undefined {
  const port = controlPlaneOf(ctx.nodes).machine.forwards['apiserver']
  const admin = ctx.pki?.admin
  if (!port || !admin) return undefined
  const key = `${port}\0${admin.local}\0${admin.sha256}`
  let client = clients.get(key)
  if (!client) {
    const kc = parseKubeconfig(readFileSync(admin.local, 'utf8'))
    if (!kc?.certPem || !kc.keyPem) return undefined
    // Free sockets are unref'd by the agent: a kept-alive connection never holds the process open.
    client = { agent: new Agent({ keepAlive: true, maxSockets: 6, ca: kc.caPem, cert: kc.certPem, key: kc.keyPem }), port }
    clients.set(key, client)
  }
  return client === 'broken' ? undefined : { key, client }
}

function hostGet(client: HostClient, path: string, o: GetOptions): Promise<ApiReply> {
  const accept = o.metadataOnly ? 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json' : 'application/json'
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: client.port, path, agent: client.agent, headers: { accept }, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', (e) => resolve({ status: 0, body: '', error: e.message }))
    })
    req.on('timeout', () => req.destroy(new Error(`no answer from 127.0.0.1:${client.port} in 15 s`)))
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message }))
    req.end()
  })
}

async function kubectlGet(ctx: ApiContext, path: string): Promise<ApiReply> {
  const r = await kubectl(ctx.nodes, ['get', '--raw', path], { nothrow: true })
  if (r.ok) return { status: 200, body: r.stdout }
  const err = r.stderr.trim()
  return { status: /\(NotFound\)/.test(err) ? 404 : 0, body: '', error: err || `kubectl exited ${r.exitCode}` }
}

async function get(ctx: ApiContext, path: string, o: GetOptions): Promise<ApiReply> {
  const host = hostClient(ctx)
  if (host) {
    const r = await hostGet(host.client, path, o)
    if (r.status !== 0) return r
    // The forward does not answer (its forwarder gone): kubectl on the node from now on.
    clients.set(host.key, 'broken')
  }
  return kubectlGet(ctx, path)
}

/** GET `path` as the cluster admin; never throws for HTTP or connection errors (status 0). */
export function apiGet(ctx: ApiContext, path: string, o: GetOptions = {}): Promise<ApiReply> {
  if (!ctx.reads) return get(ctx, path, o)
  const key = `GET ${o.metadataOnly ? 'meta ' : ''}${path}`
  let r = ctx.reads.get(key) as Promise<ApiReply> | undefined
  if (!r) ctx.reads.set(key, r = get(ctx, path, o))
  return r
}

/** Whether the host reaches the API server itself (reads then cost no process on the node). */
export const hostReadsApi = (ctx: ApiContext): boolean => hostClient(ctx) !== undefined

/** The object at `path` (undefined when 404); throws with the reason for any other answer. */
export async function apiObject<T>(ctx: ApiContext, path: string, o: GetOptions = {}): Promise<T | undefined> {
  const r = await apiGet(ctx, path, o)
  if (r.status === 404) return undefined
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.error ?? `HTTP ${r.status}: ${r.body.slice(0, 300)}`}`)
  return JSON.parse(r.body) as T
}
