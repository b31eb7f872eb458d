// A host without kubelab's tools, simulated with a PATH that holds only bash, sh and node: `doctor`
// names every missing tool with its Debian package and one install command for all of them,
// including what the builds from Go modules need when the cache lacks binaries (and `plan` names
// those builds without making anything); `up --install-deps`
// on a host without apt-get refuses and prints the command instead of guessing a package manager.
import test from 'ava'
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { kubelab } from '../helpers/cli.ts'

const bare = mkdtempSync(path.join(tmpdir(), 'kubelab-bare-path-'))
for (const [name, target] of [['bash', '/bin/bash'], ['sh', '/bin/sh'], ['node', process.execPath]] as const) symlinkSync(target, path.join(bare, name))
const empty = mkdtempSync(path.join(tmpdir(), 'kubelab-empty-cache-'))
test.after.always(() => { rmSync(bare, { recursive: true, force: true }); rmSync(empty, { recursive: true, force: true }) })

// HOME too: bash started by node without SHLVL reads ~/.bashrc (its "run by rshd" rule), which may add to PATH.
const env = { PATH: bare, HOME: empty, KUBELAB_CACHE: path.join(empty, 'cache'), KUBELAB_STATE: path.join(empty, 'state') }

test.serial('doctor on a bare host: every missing tool, its package, one install command; the builds it would run', async (t) => {
  const r = await kubelab(['doctor', '--provider', 'nspawn'], { env })
  t.is(r.code, 1, r.stderr)
  for (const tool of ['systemd-nspawn', 'debootstrap', 'socat', 'ssh-keygen']) t.regex(r.stdout, new RegExp(`✗ command ${tool}: not found`))
  t.regex(r.stdout, /✗ build: go: no `go` on PATH/)
  t.regex(r.stdout, /✗ build: gcc: not found \(runc needs cgo\)/)
  const install = /install them all: (apt-get install -y --no-install-recommends .*?) {3}\(or: kubelab doctor --fix\)/.exec(r.stdout)
  t.truthy(install, r.stdout)
  const packages = install![1]!.split(' ').slice(4)
  for (const p of ['systemd-container', 'debootstrap', 'iproute2', 'socat', 'openssh-client', 'gcc', 'libc6-dev', 'pkg-config']) t.true(packages.includes(p), `${p} in: ${packages.join(' ')}`)
  t.is(new Set(packages).size, packages.length, 'each package once')
  t.regex(r.stdout, /the first `up` makes what the cache lacks:\n {2}would download or build kubernetes v1\.35\.4/)
})

test.serial('doctor --json: the checks with their packages, and the install command', async (t) => {
  const r = await kubelab(['doctor', '--provider', 'nspawn', '--json'], { env })
  t.is(r.code, 1, r.stderr)
  const report = JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; packages?: string[] }[]; install?: string; wouldMake: { what: string }[] }
  t.deepEqual(report.checks.find((c) => c.name === 'command debootstrap')?.packages, ['debootstrap'])
  t.regex(report.install ?? '', /^apt-get install -y --no-install-recommends /)
  t.true(report.wouldMake.some((m) => m.what === 'kubernetes v1.35.4'))
})

test.serial('up --install-deps without apt-get: refused, naming the packages and the command, nothing started', async (t) => {
  const r = await kubelab(['up', '--install-deps', '--provider', 'nspawn'], { env })
  t.is(r.code, 1, r.stderr)
  t.regex(r.stderr, /ERROR \[ERR_PREFLIGHT\] preflight failed on this host: install host packages/)
  t.regex(r.stderr, /no apt-get: install these packages with this host's package manager/)
  t.regex(r.stderr, /fix: apt-get install -y --no-install-recommends .*debootstrap/)
})

test.serial('up without --install-deps: the same missing packages, and both ways to install them', async (t) => {
  const r = await kubelab(['up', '--provider', 'nspawn'], { env })
  t.not(r.code, 0)
  t.regex(r.stderr, /✗ command debootstrap: not found/)
  t.regex(r.stderr, /hint: install them all: apt-get install -y --no-install-recommends .*debootstrap.* \(or: npx kubelab up --install-deps\)/)
})

test.serial('plan with nothing cached: names what up would make, builds and downloads nothing, creates no cache', async (t) => {
  const r = await kubelab(['plan', '--provider', 'nspawn'], { env })
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /Before the steps, `up` would make what the cache lacks:\n {2}would download or build kubernetes v1\.35\.4/)
  t.regex(r.stdout, /would build metallb v0\.15\.2/)
  t.false(existsSync(env.KUBELAB_CACHE), 'no cache folder made')
})
