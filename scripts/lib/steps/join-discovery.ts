// join:discovery — `controlPlane: external` only: before a worker trusts a control plane kubelab did
// not make, it learns the cluster CA the way `kubeadm join` does: the public `cluster-info`
// ConfigMap (kube-public) read anonymously, its CA accepted only when the SHA-256 of its public key
// equals `controlPlane.caCertHash`. Then the bootstrap token is tried against the API server (a
// SelfSubjectReview), so a wrong or expired token is reported here by name instead of as a kubelet
// that never gets its certificate. The CA lands in /etc/kubernetes/pki/ca.crt for kubelet.

import { caCertHash } from '../pki/certs.ts'
import { parse } from 'yaml'
import type { ClusterConfig } from '../config/types.ts'
import { JoinError } from '../errors.ts'
import type { Step, StepContext } from '../converge/step.ts'
import { externalToken, nodeApi } from '../node/api.ts'
import { hasJoined } from '../node/joined.ts'
import { CA_FILE, PKI_DIR } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'

type External = Extract<ClusterConfig['controlPlane'], { mode: 'external' }>

function external(ctx: StepContext): External {
  const cp = ctx.config.controlPlane
  if (cp.mode !== 'external') throw new Error('internal: join:discovery runs only with controlPlane.mode external')
  return cp
}

/** The CA of cluster-info's kubeconfig (one cluster, no user or context). */
function clusterInfoCa(text: string): { caPem: string } | undefined {
  const doc = parse(text) as { clusters?: { cluster?: Record<string, unknown> }[] } | null
  const data = doc?.clusters?.[0]?.cluster?.['certificate-authority-data']
  return typeof data === 'string' ? { caPem: Buffer.from(data, 'base64').toString('utf8') } : undefined
}

/** The CA kubelab would install: fetched from cluster-info and checked against the pin. */
async function discoverCa(ctx: StepContext, node: NodeHandle): Promise<string> {
  const cp = external(ctx)
  const path = '/api/v1/namespaces/kube-public/configmaps/cluster-info'
  const reply = await nodeApi(node, cp.endpoint, { kind: 'anonymous-insecure' }, 'GET', path)
  if (reply.status === 0) {
    throw new JoinError(`cannot reach the control plane at ${cp.endpoint} from ${node.spec.name}: ${reply.error}`,
      { hint: 'check controlPlane.endpoint and that the node has a route to it' })
  }
  if (reply.status !== 200) {
    throw new JoinError(`${cp.endpoint}${path} answered ${reply.status}: the control plane does not publish cluster-info to anonymous clients`,
      { hint: 'kubeadm and kubelab control planes publish it; on others create the kube-public/cluster-info ConfigMap and let system:anonymous get it' })
  }
  const doc = JSON.parse(reply.body) as { data?: { kubeconfig?: string } }
  const kc = doc.data?.kubeconfig ? clusterInfoCa(doc.data.kubeconfig) : undefined
  if (!kc) throw new JoinError(`cluster-info from ${cp.endpoint} holds no kubeconfig with a CA`)
  const got = caCertHash(kc.caPem)
  if (got !== cp.caCertHash) {
    throw new JoinError(`the CA served by ${cp.endpoint} has hash ${got}, but controlPlane.caCertHash is ${cp.caCertHash}: refusing to trust it`,
      { hint: 'on the control plane: openssl x509 -pubkey -in ca.crt | openssl pkey -pubin -outform der | sha256sum (or `kubelab token create` on a kubelab cluster)' })
  }
  return kc.caPem
}

/** undefined when the API server accepts the token; else why not. */
async function tokenProblem(ctx: StepContext, node: NodeHandle): Promise<string | undefined> {
  const cp = external(ctx)
  const review = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }
  const reply = await nodeApi(node, cp.endpoint, { kind: 'token', token: externalToken(ctx.config) }, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', review)
  if (reply.status === 201 || reply.status === 200) return undefined
  if (reply.status === 401) {
    return `the bootstrap token in ${cp.tokenEnv} was rejected by ${cp.endpoint} (401 Unauthorized): it is wrong or has expired`
  }
  return `checking the bootstrap token against ${cp.endpoint} failed: ${reply.status ? `HTTP ${reply.status} ${reply.body.slice(0, 200)}` : reply.error}`
}

const joined = hasJoined

async function installedCaFits(ctx: StepContext, node: NodeHandle): Promise<boolean> {
  const r = await node.runner.$({ nothrow: true })`cat ${CA_FILE}`
  return r.ok && r.stdout.includes('BEGIN CERTIFICATE') && caCertHash(r.stdout) === external(ctx).caCertHash
}

export const joinDiscovery: Step = {
  id: 'join:discovery',
  title: 'Discovering the external control plane (CA pinned by hash, token checked)',
  on: 'workers',
  when: (config) => config.controlPlane.mode === 'external',
  async check(ctx, node) {
    if (!(await installedCaFits(ctx, node))) return false
    // A joined node needs the token no more (it may have expired since, which is fine).
    return (await joined(node)) || (await tokenProblem(ctx, node)) === undefined
  },
  async apply(ctx, node) {
    const caPem = await discoverCa(ctx, node)
    await node.runner.$`install -d -m 755 ${PKI_DIR}`
    await node.runner.writeFile(CA_FILE, caPem, 0o644)
    if (await joined(node)) return
    const problem = await tokenProblem(ctx, node)
    if (problem) {
      throw new JoinError(problem, {
        hint: `make a new token on the control plane (\`kubeadm token create\`, or \`kubelab token create\` for a kubelab cluster) and put it in ${external(ctx).tokenEnv}`,
      })
    }
  },
}
