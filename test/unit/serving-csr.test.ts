// Kubelet serving CSRs: approved only when they name exactly the node (its name as DNS, its address
// as IP, the node subject, serving usages). The CSRs are made here with `openssl req`, as kubelet
// would send them (base64 of the PEM, as the API returns spec.request); then join:node itself on
// FakeRunner nodes, approving or denying through kubectl.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import type { StepContext } from '../../scripts/lib/converge/step.ts'
import { JoinError } from '../../scripts/lib/errors.ts'
import { KUBELET_CLIENT_CERT, KUBELET_SERVING_CERT } from '../../scripts/lib/node/paths.ts'
import { requestedNames, servingCsrRefusal } from '../../scripts/lib/pki/serving-csr.ts'
import { joinNode, joinServingCert } from '../../scripts/lib/steps/join.ts'
import { fakeContext, type fakeNode } from '../helpers/fake-runner.ts'

const dir = mkdtempSync(path.join(os.tmpdir(), 'kubelab-csr-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))
execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', path.join(dir, 'key.pem')], { stdio: 'ignore' })

/** A CSR as base64 of its PEM; `san` like "DNS:w1,IP:10.77.0.12" (none when empty). */
function csr(subject: string, san: string): string {
  const args = ['req', '-new', '-key', path.join(dir, 'key.pem'), '-subj', subject]
  if (san) args.push('-addext', `subjectAltName=${san}`)
  return Buffer.from(execFileSync('openssl', args, { encoding: 'utf8' })).toString('base64')
}

const node = { name: 'w1', address: '10.77.0.12' }
const user = 'system:node:w1'
const usages = ['digital signature', 'key encipherment', 'server auth']
const good = csr('/O=system:nodes/CN=system:node:w1', 'DNS:w1,IP:10.77.0.12')

test('the request kubelet sends for this node is approved', (t) => {
  t.is(servingCsrRefusal({ request: good, username: user, usages }, node), undefined)
  t.is(servingCsrRefusal({ request: csr('/CN=system:node:w1/O=system:nodes', 'IP:10.77.0.12'), username: user, usages }, node), undefined, 'address only, other RDN order')
  t.deepEqual(requestedNames(Buffer.from(good, 'base64').toString()).ips, ['10.77.0.12'])
})

test('requests naming anything else are refused, saying why', (t) => {
  const cases: [string, { request: string; username?: string; usages?: string[] }, RegExp][] = [
    ['another node\'s address', { request: csr('/O=system:nodes/CN=system:node:w1', 'DNS:w1,IP:10.77.0.13') }, /IP addresses 10\.77\.0\.13 are not the node's address 10\.77\.0\.12/],
    ['the apiserver\'s name', { request: csr('/O=system:nodes/CN=system:node:w1', 'DNS:w1,DNS:kubernetes.default.svc,IP:10.77.0.12') }, /DNS names kubernetes\.default\.svc are not the node's name w1/],
    ['another node\'s name', { request: csr('/O=system:nodes/CN=system:node:w1', 'DNS:cp,IP:10.77.0.12') }, /DNS names cp are not/],
    ['a wildcard', { request: csr('/O=system:nodes/CN=system:node:w1', 'DNS:*.w1,IP:10.77.0.12') }, /DNS names \*\.w1 are not/],
    ['an e-mail name', { request: csr('/O=system:nodes/CN=system:node:w1', 'DNS:w1,email:a@b.c') }, /other names email:a@b\.c are not allowed/],
    ['a URI name', { request: csr('/O=system:nodes/CN=system:node:w1', 'DNS:w1,URI:spiffe://x/y') }, /other names url:spiffe:\/\/x\/y/],
    ['no names', { request: csr('/O=system:nodes/CN=system:node:w1', '') }, /names neither the node nor its address/],
    ['another subject', { request: csr('/O=system:masters/CN=system:node:w1', 'DNS:w1') }, /subject is .*system:masters/],
    ['an extra subject attribute', { request: csr('/O=system:nodes/O=system:masters/CN=system:node:w1', 'DNS:w1') }, /subject is/],
    ['another node\'s CN', { request: csr('/O=system:nodes/CN=system:node:cp', 'DNS:w1') }, /subject is .*system:node:cp/],
    ['another user', { request: good, username: 'system:node:cp' }, /requested by system:node:cp, not system:node:w1/],
    ['client usages', { request: good, usages: ['digital signature', 'client auth'] }, /usages client auth are not those of a serving certificate; usages lack server auth/],
    ['garbage', { request: Buffer.from('not a csr').toString('base64') }, /not a readable PKCS#10 CSR/],
  ]
  for (const [what, c, message] of cases) {
    const why = servingCsrRefusal({ username: user, usages, ...c }, node)
    t.truthy(why, what)
    t.regex(why ?? '', message, what)
  }
})

// join:node then join:serving-cert on FakeRunner nodes: the control plane answers kubectl; only the CSR list differs.
function joinFixture(request: (address: string) => string) {
  const config = parseConfig('name: t\nprovider: {type: nspawn}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n', { file: '/x/c.yaml', env: {} }).config
  const f = fakeContext(config)
  const [cp, w1] = f.nodes as [ReturnType<typeof fakeNode>, ReturnType<typeof fakeNode>]
  w1.runner.put(KUBELET_CLIENT_CERT, 'cert')
  const calls: string[] = []
  const csrList = JSON.stringify({ items: [{ metadata: { name: 'csr-w1' }, spec: { signerName: 'kubernetes.io/kubelet-serving', username: 'system:node:w1', request: request(w1.spec.address), usages } }] })
  cp.runner.on((s) => s.includes(' get csr -o json'), { stdout: csrList })
  cp.runner.on((s) => s.includes(' get --raw /api/v1/nodes/w1'), { stdout: JSON.stringify({ metadata: { labels: {} } }) })
  cp.runner.on((s) => s.includes(' label --overwrite'), {})
  cp.runner.on((s) => / certificate (approve|deny) /.test(s), (s) => {
    calls.push(s.replace(/^.* certificate /, ''))
    if (s.includes(' approve ')) w1.runner.put(KUBELET_SERVING_CERT, 'serving')
    return {}
  })
  return { ...f, w1, calls, address: w1.spec.address }
}

test('join:serving-cert approves the serving CSR that names the node', async (t) => {
  const f = joinFixture((address) => csr('/O=system:nodes/CN=system:node:w1', `DNS:w1,IP:${address}`))
  await joinNode.apply(f.ctx as StepContext, f.w1)
  t.deepEqual(f.calls, [], 'join:node itself approves nothing')
  await joinServingCert.apply(f.ctx as StepContext, f.w1)
  t.deepEqual(f.calls, ['approve -- csr-w1'])
})

test('join:serving-cert denies a serving CSR asking for another address and fails, saying why', async (t) => {
  const f = joinFixture(() => csr('/O=system:nodes/CN=system:node:w1', 'DNS:w1,IP:10.99.0.1'))
  const err = await t.throwsAsync(joinServingCert.apply(f.ctx as StepContext, f.w1), { instanceOf: JoinError, code: 'ERR_JOIN' })
  t.regex(err!.message, new RegExp(`w1 asked for a serving certificate that does not match the node \\(name w1, address ${f.address.replace(/\./g, '\\.')}\\): csr-w1: IP addresses 10\\.99\\.0\\.1 are not`))
  t.deepEqual(f.calls, ['deny -- csr-w1'], 'denied, never approved')
  t.true(f.lines().some((l) => /w1: serving CSR csr-w1 denied: IP addresses 10\.99\.0\.1/.test(l)), f.lines().join('\n'))
})
