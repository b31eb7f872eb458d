// Values that got past validation (or never went through it) still cannot become syntax where they
// are used: the pod-routes script quotes every word, unit files take only plain words, and
// `kubectl label` ends its flags with `--` before the node and the labels.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { TemplateError } from '../../scripts/lib/errors.ts'
import { labelArgs } from '../../scripts/lib/steps/join.ts'
import { routeLines } from '../../scripts/lib/steps/network-pod-routes.ts'
import { renderTemplate } from '../../scripts/lib/templates/render.ts'

test('pod routes: an address holding shell text stays one argument of ip (run by a real sh)', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelab-quote-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const marker = path.join(dir, 'x')
  const evil = [`10.0.0.5; touch ${marker}`, `10.0.0.5\ntouch ${marker}`, `$(touch ${marker})`, `'; touch ${marker}; '`]
  const lines = routeLines(evil.map((via, i) => ({ cidr: `10.244.${i}.0/24`, via })))
  t.is(routeLines([{ cidr: '10.244.1.0/24', via: '10.0.0.12' }]), 'ip route replace 10.244.1.0/24 via 10.0.0.12', 'plain values stay plain (goldens unchanged)')
  // `ip` replaced by a function that prints each argument in <>, one call per line group.
  const out = execFileSync('sh', ['-c', `ip() { printf '<%s>' "$@"; printf '\\n@@\\n'; }\nset -e\n${lines}`], { encoding: 'utf8' })
  t.false(existsSync(marker), 'nothing injected ran')
  const calls = out.split('\n@@\n').filter(Boolean).map((c) => [...c.matchAll(/<([^>]*)>/g)].map((m) => m[1]!))
  t.deepEqual(calls.map((c) => c[4]), evil, 'each address arrives as one argument, unchanged')
  t.is(calls.length, evil.length)
  t.deepEqual(calls.map((c) => c.length), evil.map(() => 5), 'route replace CIDR via ADDRESS: five words each')
})

test('unit files take only plain words: a newline with a directive, ; or % in --node-ip is refused', (t) => {
  const ok = renderTemplate('systemd/kubelet.service', { binDir: '/opt/kubelab/bin', nodeName: 'w1', nodeIP: '10.0.0.12' })
  t.regex(ok, /--node-ip=10\.0\.0\.12 /)
  for (const nodeIP of ['10.0.0.12\nExecStartPre=/bin/touch /tmp/x', '10.0.0.12 --v=9', '10.0.0.12;id', '%h', '$HOME', '"x"']) {
    const err = t.throws(() => renderTemplate('systemd/kubelet.service', { binDir: '/opt/kubelab/bin', nodeName: 'w1', nodeIP }), { instanceOf: TemplateError })
    t.regex(err!.message, /the value for \{\{ nodeIP \}\} is not one plain word/, nodeIP)
  }
})

test('a script template: an inline value gets one line; a block placeholder (alone on its line) gets many', (t) => {
  t.notThrows(() => renderTemplate('network/kubelab-pod-routes', { routes: 'ip route replace a via b\nip route replace c via d' }))
})

test('kubectl label: flags, then --, then the node and its labels', (t) => {
  t.deepEqual(labelArgs({ name: 'w1', role: 'worker', labels: { '--kubeconfig': '/tmp/x', tier: 'front' } }), [
    'label', '--overwrite', '--', 'node', 'w1', 'node-role.kubernetes.io/worker=', '--kubeconfig=/tmp/x', 'tier=front',
  ])
})
