// Checks 1-2: every node Ready with its agents running; Secrets encrypted at rest in etcd.

import { randomBytes } from 'node:crypto'
import { manifest, NS } from '../fixtures.ts'
import type { SmokeCheck } from '../types.ts'

interface NodeList {
  items: { metadata: { name: string }; status: { conditions: { type: string; status: string; reason?: string }[] } }[]
}

const AGENTS = ['containerd', 'kubelet', 'kube-proxy']

export const nodesReady: SmokeCheck = {
  id: 'nodes-ready',
  title: 'every node Ready; containerd, kubelet, kube-proxy active on each',
  timeoutMs: 60_000,
  async run(ctx) {
    const list = await ctx.kube.json<NodeList>(['get', 'nodes'])
    for (const spec of ctx.config.nodes) {
      const n = list.items.find((i) => i.metadata.name === spec.name)
      if (!n) throw new Error(`node ${spec.name} is not registered`)
      const ready = n.status.conditions.find((c) => c.type === 'Ready')
      if (ready?.status !== 'True') throw new Error(`node ${spec.name} is not Ready (${ready?.reason ?? 'no Ready condition'})`)
    }
    await Promise.all(ctx.nodes.map(async (node) => {
      const r = await node.runner.$({ nothrow: true })`systemctl is-active containerd kubelet kube-proxy`
      const states = r.stdout.trim().split('\n')
      const bad = AGENTS.flatMap((u, i) => (states[i] === 'active' ? [] : [`${u} is ${states[i] ?? 'unknown'}`]))
      if (bad.length) throw new Error(`on ${node.spec.name}: ${bad.join(', ')}`)
    }))
    return `${ctx.config.nodes.length} nodes Ready, 3 agents active on each`
  },
}

const ETCD_PKI = '/etc/kubernetes/pki'

export const secretEncrypted: SmokeCheck = {
  id: 'secret-encrypted',
  title: 'a Secret is stored encrypted in etcd',
  timeoutMs: 60_000,
  async run(ctx) {
    const value = `smoke-${randomBytes(8).toString('hex')}`
    await ctx.kube.apply(manifest({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'smoke-secret', namespace: NS }, stringData: { value } }))
    const cp = ctx.nodes.find((n) => n.spec.role === 'control-plane')
    if (!cp) throw new Error('no control-plane node to read etcd on')
    const key = Buffer.from(`/registry/secrets/${NS}/smoke-secret`).toString('base64')
    // etcd's JSON gateway with the API server's own etcd client certificate.
    const r = await cp.runner.$`curl -sS --max-time 10 --cacert ${ETCD_PKI}/etcd/ca.crt --cert ${ETCD_PKI}/apiserver-etcd-client.crt --key ${ETCD_PKI}/apiserver-etcd-client.key -X POST https://127.0.0.1:2379/v3/kv/range -d ${JSON.stringify({ key })}`
    const kv = (JSON.parse(r.stdout) as { kvs?: { value: string }[] }).kvs?.[0]
    if (!kv) throw new Error('the Secret is not in etcd under its key')
    const raw = Buffer.from(kv.value, 'base64')
    const prefix = raw.subarray(0, 40).toString('latin1').match(/^k8s:enc:[a-z]+:v1:[^:]+:/)?.[0]
    if (!prefix) throw new Error(`the stored value carries no encryption provider prefix (starts ${JSON.stringify(raw.subarray(0, 12).toString('latin1'))})`)
    if (raw.includes(Buffer.from(value))) throw new Error('the plaintext value is readable in etcd')
    return `stored as ${prefix}…, plaintext absent`
  },
}
