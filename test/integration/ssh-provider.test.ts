// The ssh provider (existing hosts) against a real throwaway sshd on loopback: preflight facts in
// one round trip per host, each failed check named per node with its fix; unreachable hosts and a
// user without sudo are reported, not hung on. This host's PID 1 is not systemd, which preflight
// must say (the positive path of `up` on real hosts is covered when machines run systemd).
import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseFacts, judgeFacts } from '../../scripts/lib/providers/ssh/provider.ts'
import { kubelab } from '../helpers/cli.ts'
import { NOSUDO_USER, Sshd, sshdUnavailable } from '../helpers/sshd.ts'

const unavailable = sshdUnavailable()
let sshd: Sshd
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-sshprov-'))
const env = { KUBELAB_STATE: path.join(work, 'state') }

function writeConfig(file: string, user: string, addresses: string[]): string {
  const p = path.join(work, file)
  writeFileSync(p, `name: sshprov
provider: {type: ssh}
ssh: {user: ${user}, port: ${sshd.port}, keyFile: ${sshd.clientKey}}
nodes:
${addresses.map((a, i) => `  - {name: ${i === 0 ? 'cp' : `w${i}`}, role: ${i === 0 ? 'control-plane' : 'worker'}, address: ${a}}`).join('\n')}
`)
  return p
}

test.before(async () => {
  if (!unavailable) sshd = await Sshd.start({ extraConfig: 'ListenAddress 127.0.0.2' })
})
test.after.always(async () => {
  await sshd?.dispose()
  rmSync(work, { recursive: true, force: true })
})

const it = unavailable ? test.skip : test.serial

it('doctor checks every host over SSH and names what fails, per node, with a fix', async (t) => {
  const config = writeConfig('root.yaml', 'root', ['127.0.0.1', '127.0.0.2'])
  const r = await kubelab(['doctor', '-c', config, '--json'], { env })
  const report = JSON.parse(r.stdout) as { provider: { type: string }; checks: { name: string; ok: boolean; detail: string; fix?: string }[] }
  t.is(report.provider.type, 'ssh')
  const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]))
  for (const node of ['cp', 'w1']) {
    t.true(byName[`${node}: ssh`]?.ok, JSON.stringify(byName[`${node}: ssh`]))
    t.true(byName[`${node}: os`]?.ok)
    t.regex(byName[`${node}: cgroups`]!.detail, /cgroup v1|cgroup v2/)
    t.false(`${node}: sudo` in byName, 'root needs no sudo check')
  }
  // Facts of this very host: PID 1 is not systemd here.
  const init = byName['cp: systemd']!
  t.is(init.ok, false)
  t.regex(init.detail, /^PID 1 is /)
  t.truthy(init.fix)
  t.is(r.code, 1)
})

it('up refuses hosts that fail preflight, listing every failed check; unreachable hosts fail fast', async (t) => {
  const config = writeConfig('nosudo.yaml', NOSUDO_USER, ['127.0.0.1', '127.0.0.3'])
  const started = Date.now()
  const r = await kubelab(['up', '--machines-only', '-c', config], { env })
  t.is(r.code, 1)
  t.regex(r.stderr, /ERR_PREFLIGHT/)
  t.regex(r.stderr, /cp: sudo: sudo -n refused/)
  t.regex(r.stderr, /w1: ssh: .*(refused|could not connect)/)
  t.true(Date.now() - started < 40_000, 'no hang on an unreachable host')
})

test('host facts are judged per rule', (t) => {
  const facts = parseFacts('os=debian 12\narch=x86_64\nkernel=6.1\ncgroupfs=cgroup2fs\nswap=1\noverlay=module\nbr_netfilter=no\ndisk_gib=4\ninit=systemd\nuid=0\n')
  const failed = judgeFacts('n', facts, undefined).filter((c) => !c.ok).map((c) => c.name)
  t.deepEqual(failed, ['n: br_netfilter', 'n: disk'])
})
