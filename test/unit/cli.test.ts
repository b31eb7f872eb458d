// The real `kubelab` bin as a user runs it: exit codes, where output goes, --json.
import test from 'ava'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Ajv } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { kubelab } from '../helpers/cli.ts'
import { FIXTURES, ROOT } from '../helpers/paths.ts'

const bad = path.join(FIXTURES, 'config/invalid-three-problems.yaml')

test('config validate: exit 0 on the default config', async (t) => {
  const r = await kubelab(['config', 'validate'])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /cluster\.config\.yaml is valid: 3 nodes \(1 control-plane, 2 workers\), provider auto/)
  t.is(r.stdout, '')
})

test('config validate: exit 1 on a bad config, every problem with file:line:col', async (t) => {
  const r = await kubelab(['config', 'validate', '-c', 'test/fixtures/config/invalid-three-problems.yaml'])
  t.is(r.code, 1)
  const lines = r.stderr.trim().split('\n')
  t.is(lines[0], '✗ test/fixtures/config/invalid-three-problems.yaml has 3 problems')
  t.regex(lines[1]!, /^ {2}test\/fixtures\/config\/invalid-three-problems\.yaml:5:\d+ {2}kubernetes\.serviceCIDR: overlaps/)
  t.regex(lines[2]!, /:8:\d+ {2}nodes\[1\]\.role: must be one of control-plane, worker; got "master"$/)
  t.regex(lines[3]!, /:11:3 {2}addons\.dns: unknown key/)
})

test('config validate --json: errors as data on stdout', async (t) => {
  const r = await kubelab(['config', 'validate', '-c', bad, '--json'])
  t.is(r.code, 1)
  const out = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; issues: { path: string; where: string }[] } }
  t.false(out.ok)
  t.is(out.error.code, 'ERR_CONFIG')
  t.deepEqual(out.error.issues.map((i) => i.path), ['kubernetes.serviceCIDR', 'nodes[1].role', 'addons.dns'])
  t.regex(out.error.issues[0]!.where, /invalid-three-problems\.yaml:5:\d+$/)
})

test('plan prints every node with its ordered steps; --json gives the same plan', async (t) => {
  // An empty state folder: the plan from the config alone, whatever clusters this host runs.
  const env = { KUBELAB_STATE: mkdtempSync(path.join(tmpdir(), 'kubelab-plan-')) }
  t.teardown(() => rmSync(env.KUBELAB_STATE, { recursive: true, force: true }))
  const human = await kubelab(['plan', '-c', 'cluster.config.yaml'], { env })
  t.is(human.code, 0, human.stderr)
  t.regex(human.stdout, /^Plan for cluster "kubelab": provider auto, Kubernetes v1\.35\.4, control plane managed/)
  t.regex(human.stdout, /^control-plane {2}\(control-plane, 10\.77\.0\.11, pods 10\.244\.0\.0\/24\)$/m)
  t.regex(human.stdout, /^worker-2 {2}\(worker, 10\.77\.0\.13, pods 10\.244\.2\.0\/24\)$/m)
  const json = await kubelab(['plan', '-c', 'cluster.config.yaml', '--json'], { env })
  t.is(json.code, 0)
  const plan = JSON.parse(json.stdout) as { nodes: { name: string; steps: { id: string; title: string }[] }[] }
  t.deepEqual(plan.nodes.map((n) => n.name), ['control-plane', 'worker-1', 'worker-2'])
  // The same steps, in the same order, as the human output.
  for (const node of plan.nodes) {
    const block = human.stdout.split('\n\n').find((b) => b.startsWith(`${node.name}  `))!
    const ids = block.split('\n').slice(1).filter((l) => l.trim()).map((l) => l.trim().split(/\s+/)[1])
    t.deepEqual(ids, node.steps.map((s) => s.id))
  }
  t.true(plan.nodes[0]!.steps.some((s) => s.id === 'cp:apiserver'))
  t.false(plan.nodes[1]!.steps.some((s) => s.id === 'cp:apiserver'))
})

test('plan with an external control plane has no control-plane steps', async (t) => {
  const r = await kubelab(['plan', '-c', path.join(FIXTURES, 'config/valid-external.yaml'), '--json'], { env: { KUBELAB_TEST_TOKEN: 'abcdef.0123456789abcdef' } })
  t.is(r.code, 0, r.stderr)
  const plan = JSON.parse(r.stdout) as { nodes: { steps: { id: string }[] }[] }
  t.false(plan.nodes.flatMap((n) => n.steps).some((s) => s.id.startsWith('cp:') || s.id.startsWith('pki:')))
  t.false(r.stdout.includes('abcdef.0123456789abcdef'), 'secrets never printed')
})

test('config schema validates the default config and rejects a bad one', async (t) => {
  const r = await kubelab(['config', 'schema'])
  t.is(r.code, 0, r.stderr)
  const schema = JSON.parse(r.stdout) as object
  const ajv = new Ajv({ strict: false, allErrors: true })
  const check = ajv.compile(schema)
  t.true(check(parseYaml(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8'))), JSON.stringify(check.errors))
  t.false(check(parseYaml(readFileSync(bad, 'utf8'))))
  t.true((check.errors ?? []).some((e) => e.instancePath === '/nodes/1/role'))
  t.false(check({ nodes: [{ name: 'x', role: 'worker', cpu: 2 }] }), 'unknown keys are rejected')
})

test('the schema file the repo YAML links is current', async (t) => {
  const r = await kubelab(['config', 'schema'])
  t.is(readFileSync(path.join(ROOT, 'docs/cluster.config.schema.json'), 'utf8'), r.stdout,
    'regenerate: npx kubelab config schema > docs/cluster.config.schema.json')
  t.regex(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8'), /\$schema=\.\/docs\/cluster\.config\.schema\.json/)
})

test('usage errors exit 2 and say what is wrong', async (t) => {
  const unknown = await kubelab(['frobnicate'])
  t.is(unknown.code, 2)
  t.regex(unknown.stderr, /unknown command "frobnicate"/)
  const flag = await kubelab(['plan', '--nope'])
  t.is(flag.code, 2)
  t.regex(flag.stderr, /ERR_USAGE.*--nope/)
  const help = await kubelab(['--help'])
  t.is(help.code, 0)
  t.regex(help.stdout, /config validate/)
})

test('flags beat the environment and a bad flag value names the flag', async (t) => {
  const r = await kubelab(['config', 'validate', '--provider', 'vbox'], { env: { KUBELAB_PROVIDER: 'nspawn' } })
  t.is(r.code, 1)
  t.regex(r.stderr, /--provider \(flag\) {2}provider\.type: must be one of auto, nspawn, qemu, multipass, ssh; got "vbox"/)
})

test('a flag another command owns is refused with the flags this one takes', async (t) => {
  const r = await kubelab(['status', '--keep'])
  t.is(r.code, 2)
  t.regex(r.stderr, /ERR_USAGE\] kubelab status: unknown option --keep \(status takes: -c, --config, --env-file, [^)]*--json, -v\)/)
  t.regex(r.stderr, /hint: kubelab status --help/)
  t.is(r.stdout, '')
  // Two-word commands name themselves whole; --json reports the usage error as data.
  const json = await kubelab(['token', 'create', '--merge', '--json'])
  t.is(json.code, 2)
  const out = JSON.parse(json.stdout) as { ok: boolean; error: { code: string; message: string; hint: string } }
  t.is(out.error.code, 'ERR_USAGE')
  t.regex(out.error.message, /^kubelab token create: unknown option --merge \(token create takes: --ttl, -c, --config/)
  t.is(out.error.hint, 'kubelab token create --help')
  // config schema reads no config: no overrides.
  const schema = await kubelab(['config', 'schema', '--provider', 'nspawn'])
  t.is(schema.code, 2)
  t.regex(schema.stderr, /kubelab config schema: unknown option --provider/)
})

test('global flags go before or after the command; the config overrides where a config is read', async (t) => {
  for (const args of [['-c', 'cluster.config.yaml', 'config', 'validate'], ['config', 'validate', '-c', 'cluster.config.yaml', '-v', '--provider', 'nspawn']]) {
    const r = await kubelab(args)
    t.is(r.code, 0, r.stderr)
    t.regex(r.stderr, /cluster\.config\.yaml is valid/)
  }
})

test('COMMAND --help prints that command and only its flags', async (t) => {
  const up = await kubelab(['up', '--help'])
  t.is(up.code, 0, up.stderr)
  t.regex(up.stdout, /^Usage: kubelab up \[options\]/)
  t.regex(up.stdout, /^ +--no-smoke +skip the smoke suite at the end$/m)
  t.regex(up.stdout, /^ +--until STEP +converge up to and including STEP/m)
  t.regex(up.stdout, /^ +-c, --config FILE +cluster config/m)
  t.false(up.stdout.includes('--merge'))
  const status = await kubelab(['status', '--help'])
  t.is(status.code, 0)
  t.regex(status.stdout, /machines, nodes, components, versions/)
  t.false(status.stdout.includes('--keep'))
  t.false(status.stdout.includes('--no-smoke'))
  t.regex(status.stdout, /--json/)
  const schema = await kubelab(['config', 'schema', '-h'])
  t.is(schema.code, 0)
  t.false(schema.stdout.includes('--provider'))
  // `kubelab --help`: the commands and the global flags, no command's own.
  const all = await kubelab(['--help'])
  t.regex(all.stdout, /^ +token create +a bootstrap token/m)
  t.regex(all.stdout, /--kubernetes-version V/)
  t.false(all.stdout.includes('--no-smoke'))
})

test('version: kubelab\'s own and the Kubernetes versions of the shipped lock; --json the same as data', async (t) => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const r = await kubelab(['version', '--json'])
  t.is(r.code, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout), { kubelab: pkg.version, kubernetes: { supported: ['v1.34.4', 'v1.35.4'], default: 'v1.35.4' }, packageRoot: ROOT })
  const text = await kubelab(['version'])
  t.is(text.stdout, `kubelab ${pkg.version}\nKubernetes: v1.34.4, v1.35.4 (default v1.35.4)\n`)
})

test('clusters: every cluster under the state root with its provider, node count and state, without a config', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'kubelab-clusters-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const write = (name: string, provider: string, machines: Record<string, { pids: Record<string, number> }>) => {
    mkdirSync(path.join(root, name))
    writeFileSync(path.join(root, name, 'state.json'), JSON.stringify({ cluster: name, provider, machines }))
  }
  // A live systemd-nspawn is a process whose command line names it: a sleep started as one.
  const nspawn = spawn('bash', ['-c', 'exec -a systemd-nspawn sleep 60'], { stdio: 'ignore' })
  t.teardown(() => nspawn.kill())
  await new Promise((r) => setTimeout(r, 200))
  write('lab', 'nspawn', { cp: { pids: { nspawn: nspawn.pid! } }, w1: { pids: { nspawn: nspawn.pid! } } })
  // This test's own PID is alive but not a machine: it does not count.
  write('odd', 'nspawn', { cp: { pids: { nspawn: process.pid } } })
  write('old', 'qemu', { cp: { pids: { qemu: 4194305 } } })
  write('bm', 'ssh', { a: { pids: {} }, b: { pids: {} }, c: { pids: {} } })
  mkdirSync(path.join(root, 'not-a-cluster'))
  const r = await kubelab(['clusters', '--json'], { env: { KUBELAB_STATE: root } })
  t.is(r.code, 0, r.stderr)
  t.deepEqual((JSON.parse(r.stdout) as { clusters: object[] }).clusters.map((c) => ({ ...c, stateDir: undefined })), [
    { name: 'bm', provider: 'ssh', nodes: 3, state: 'hosts', stateDir: undefined },
    { name: 'lab', provider: 'nspawn', nodes: 2, state: 'running', stateDir: undefined },
    { name: 'odd', provider: 'nspawn', nodes: 1, state: 'stopped', stateDir: undefined },
    { name: 'old', provider: 'qemu', nodes: 1, state: 'stopped', stateDir: undefined },
  ])
  const text = await kubelab(['clusters'], { env: { KUBELAB_STATE: root } })
  t.regex(text.stdout, /^NAME +PROVIDER +NODES +STATE\nbm +ssh +3 +hosts\nlab +nspawn +2 +running\nodd +nspawn +1 +stopped\nold +qemu +1 +stopped\n$/)
})
