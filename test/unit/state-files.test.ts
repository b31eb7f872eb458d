// State on this host survives a crash: every write is atomic with its mode enforced (also over an
// existing, wider file), and a damaged state file is a StateError naming it, never an empty default
// (lifecycle.json, state.json, the join token, pinned host keys, facts for `status`).
import test from 'ava'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { joinToken } from '../../scripts/lib/converge/inputs.ts'
import { StateError } from '../../scripts/lib/errors.ts'
import { readJsonFile, writeFileAtomic } from '../../scripts/lib/host/files.ts'
import { readAllocations, remember } from '../../scripts/lib/lifecycle/allocations.ts'
import { mergeKubeconfig } from '../../scripts/lib/cluster.ts'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { StateStore } from '../../scripts/lib/providers/common/state.ts'
import { vmPaths, writeSeed } from '../../scripts/lib/providers/qemu/machine.ts'
import { JsonFileHostKeyStore } from '../../scripts/lib/remote/hostkeys.ts'
import { kubelab } from '../helpers/cli.ts'
import { tempDir } from '../helpers/files.ts'

const mode = (f: string) => statSync(f).mode & 0o777
const damaged = { instanceOf: StateError, code: 'ERR_STATE' } as const

test('writeFileAtomic: mode on create, narrowed over an existing 0644 file, no temp file left', async (t) => {
  const d = await tempDir(t)
  const f = path.join(d, 'sub', 'config')
  writeFileAtomic(f, 'one')
  t.is(readFileSync(f, 'utf8'), 'one')
  t.is(mode(f), 0o600)
  chmodSync(f, 0o644) // e.g. a ~/.kube/config another tool wrote
  writeFileAtomic(f, 'two: admin key')
  t.is(mode(f), 0o600)
  t.is(readFileSync(f, 'utf8'), 'two: admin key')
  writeFileAtomic(f, 'public', { mode: 0o644 })
  t.is(mode(f), 0o644)
  t.deepEqual(readdirSync(path.dirname(f)), ['config'])
})

test('writeFileAtomic: a symlinked file is written where it points and the link stays', async (t) => {
  const d = await tempDir(t)
  mkdirSync(path.join(d, 'dotfiles'))
  writeFileSync(path.join(d, 'dotfiles', 'kube'), 'old', { mode: 0o644 })
  symlinkSync(path.join(d, 'dotfiles', 'kube'), path.join(d, 'config'))
  writeFileAtomic(path.join(d, 'config'), 'new')
  t.true(statSync(path.join(d, 'config'), { throwIfNoEntry: true }).isFile())
  t.is(readFileSync(path.join(d, 'dotfiles', 'kube'), 'utf8'), 'new')
  t.is(mode(path.join(d, 'dotfiles', 'kube')), 0o600)
  t.deepEqual(readdirSync(path.join(d, 'dotfiles')), ['kube'])
})

test('writeFileAtomic: a failed write keeps the old file whole and leaves no temp file', async (t) => {
  const d = await tempDir(t)
  const f = path.join(d, 'state.json')
  writeFileAtomic(f, '{"ok":true}\n')
  mkdirSync(path.join(d, 'dir-in-the-way'))
  t.throws(() => writeFileAtomic(path.join(d, 'dir-in-the-way'), 'x'))
  t.is(readFileSync(f, 'utf8'), '{"ok":true}\n')
  t.deepEqual(readdirSync(d).sort(), ['dir-in-the-way', 'state.json'])
})

test('readJsonFile: missing is undefined; truncated, empty or not an object is a StateError naming the file', async (t) => {
  const d = await tempDir(t)
  const f = path.join(d, 'x.json')
  t.is(readJsonFile(f, 'x'), undefined)
  for (const [text, reason] of [['{"nodes": {"w1": {"addr', /not valid JSON/], ['', /the file is empty/], ['[1]', /not a JSON object/]] as const) {
    writeFileSync(f, text)
    const e = t.throws(() => readJsonFile(f, 'the things'), damaged)
    t.true(e?.message.startsWith(`${f} (the things) is damaged:`), e?.message)
    t.regex(e?.message ?? '', reason)
    t.truthy(e?.hint)
  }
})

const config = () => parseConfig('name: t\nprovider: {type: nspawn}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n', { file: '/x/c.yaml', env: {} }).config

test('lifecycle.json truncated by a crash: an error naming it, not new addresses and pod CIDRs', async (t) => {
  const d = await tempDir(t)
  remember(d, config())
  t.is(Object.keys(readAllocations(d).nodes).length, 2)
  t.is(mode(path.join(d, 'lifecycle.json')), 0o600)
  const text = readFileSync(path.join(d, 'lifecycle.json'), 'utf8')
  writeFileSync(path.join(d, 'lifecycle.json'), text.slice(0, text.length / 2))
  const e = t.throws(() => readAllocations(d), damaged)
  t.regex(e?.message ?? '', /lifecycle\.json/)
  t.throws(() => remember(d, config()), damaged) // and nothing overwrites it with fresh values
  t.is(readFileSync(path.join(d, 'lifecycle.json'), 'utf8'), text.slice(0, text.length / 2))
})

test('state.json, bootstrap-token.json and the host-key pins: damaged is an error naming the file', async (t) => {
  const d = await tempDir(t)
  const store = new StateStore(d)
  store.write({ cluster: 't', provider: 'nspawn', machines: {} })
  t.is(mode(store.file), 0o600)
  writeFileSync(store.file, '{"cluster": "t", "prov')
  t.throws(() => store.read('t', 'nspawn'), { ...damaged, message: /state\.json/ })

  const token = joinToken(d, { keep: true })
  t.is(joinToken(d, { keep: true }).token, token.token)
  t.is(mode(path.join(d, 'bootstrap-token.json')), 0o600)
  writeFileSync(path.join(d, 'bootstrap-token.json'), '{"token": "abc')
  t.throws(() => joinToken(d, { keep: true }), { ...damaged, message: /bootstrap-token\.json/ })

  const pins = new JsonFileHostKeyStore(path.join(d, 'known_hosts.json'))
  await pins.set('w1', 'SHA256:abc')
  t.is(await pins.get('w1'), 'SHA256:abc')
  writeFileSync(pins.location, '{"version": 1, "hosts": {"w1"')
  await t.throwsAsync(pins.get('w1'), { ...damaged, message: /known_hosts\.json/ })
})

test('kubelab status with a truncated state.json: one ERR_STATE line naming the file, exit 1', async (t) => {
  const d = await tempDir(t)
  mkdirSync(path.join(d, 'kubelab'), { recursive: true })
  writeFileSync(path.join(d, 'kubelab', 'state.json'), '{"cluster": "kubelab", "provider": "ns')
  const r = await kubelab(['status', '-c', 'test/fixtures/config/valid-minimal.yaml'], { env: { KUBELAB_STATE: d, KUBELAB_EGRESS: 'off' } })
  t.is(r.code, 1, r.stderr)
  t.regex(r.stderr, /ERROR \[ERR_STATE\] .*kubelab\/state\.json \(what kubelab made for this cluster\) is damaged/)
  t.false(r.stderr.includes('    at '), 'no stack trace')
  t.true(existsSync(path.join(d, 'kubelab', 'state.json')), 'the damaged file is kept for the user')
})

test('kubeconfig --merge: a kubeconfig that is not one is refused, never merged over', (t) => {
  const ours = 'apiVersion: v1\nkind: Config\nclusters: [{name: kubelab-t, cluster: {server: "https://127.0.0.1:1"}}]\ncontexts: [{name: kubelab-t, context: {cluster: kubelab-t, user: kubelab-t}}]\nusers: [{name: kubelab-t}]\ncurrent-context: kubelab-t\n'
  for (const theirs of ['clusters: [{name: a', 'just text', 'clusters: 5\n', '- a\n- b\n']) t.throws(() => mergeKubeconfig(theirs, ours), undefined, theirs)
  t.regex(mergeKubeconfig('clusters: [{name: other, cluster: {server: "https://x"}}]\n', ours), /name: other[\s\S]*name: kubelab-t/)
  t.regex(mergeKubeconfig(undefined, ours), /current-context: kubelab-t/)
})

test('a VM\'s kept machine-id: made once, 0644; truncated is an ERR_STATE naming it (not a new identity)', async (t) => {
  const d = await tempDir(t)
  const p = vmPaths(d, 'w1')
  mkdirSync(p.dir, { recursive: true })
  writeFileSync(path.join(p.dir, 'machine-id'), '3f2a') // a crash while an older kubelab wrote it
  const seed = { name: 'w1', authorizedKey: 'ssh-ed25519 AAAA test', hosts: {}, network: 'true\n', resolvConf: 'nameserver 10.0.0.1\n' }
  await t.throwsAsync(writeSeed(p, seed), { ...damaged, message: /machines\/w1\/machine-id/ })
  t.is(readFileSync(path.join(p.dir, 'machine-id'), 'utf8'), '3f2a')
})
