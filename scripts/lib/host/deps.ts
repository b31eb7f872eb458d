// What this host needs for kubelab's own builds (the substrates' tools are each provider's
// preflight): Go for every build from Go modules; a C toolchain, static libc and libseccomp for
// runc (cgo, seccomp, linked statically); apt-get for the busybox package of the testbox image.
// Checked before a build starts, each missing piece with the Debian package that brings it, so a
// fresh host hears everything it lacks at once. `installPackages` is `up --install-deps` and
// `doctor --fix`: as root on Debian/Ubuntu, it names the packages, then installs them.

import { installCommand, PreflightError, type PreflightCheck, type WouldMake } from '../errors.ts'
import type { Progress } from '../log/progress.ts'
import { host, hostOk } from './exec.ts'

/** The Go release the builds need at least (go.mod `go` lines of the pinned modules). */
export const MIN_GO = [1, 25] as const

/** The builds behind `gaps` that a build would make (`strict`: only those nothing else can make). */
export function buildsOf(gaps: readonly WouldMake[], o: { strict: boolean }): string[] {
  return [...new Set(gaps.filter((g) => g.build && (g.how === 'build' || !o.strict)).map((g) => g.build!))]
}

/** The host checks for running these builds (build.sh components, plus `testbox` for its image). */
export async function buildChecks(builds: readonly string[]): Promise<PreflightCheck[]> {
  if (builds.length === 0) return []
  const checks: PreflightCheck[] = []
  const goBuilds = builds.filter((b) => b !== 'testbox')
  if (goBuilds.length) {
    const v = (await host`go env GOVERSION`.catch(() => undefined))?.stdout.trim()
    const m = v ? /^go(\d+)\.(\d+)/.exec(v) : null
    const ok = !!m && (Number(m[1]) > MIN_GO[0] || (Number(m[1]) === MIN_GO[0] && Number(m[2]) >= MIN_GO[1]))
    checks.push({
      name: 'build: go', ok, detail: ok ? `${v}` : v ? `${v} is older than go${MIN_GO.join('.')}` : `no \`go\` on PATH (to build ${goBuilds.join(', ')})`,
      ...(ok ? {} : { fix: `install Go >= ${MIN_GO.join('.')} (the Go project's release tarball; Debian 12's golang is older), or use artifacts.source: download | mirror | bundle` }),
    })
  }
  if (builds.includes('runc')) {
    const gcc = await hostOk`command -v gcc`
    checks.push({ name: 'build: gcc', ok: gcc, detail: gcc ? 'found (cgo, for runc)' : 'not found (runc needs cgo)', ...(gcc ? {} : { fix: 'apt-get install -y gcc libc6-dev', packages: ['gcc', 'libc6-dev'] }) })
    const libc = gcc && await hostOk`test -f "$(gcc -print-file-name=libc.a)"`
    if (gcc) checks.push({ name: 'build: static libc', ok: libc, detail: libc ? 'libc.a found' : 'no libc.a (runc is linked statically)', ...(libc ? {} : { fix: 'apt-get install -y libc6-dev', packages: ['libc6-dev'] }) })
    const pc = await hostOk`command -v pkg-config`
    checks.push({ name: 'build: pkg-config', ok: pc, detail: pc ? 'found' : 'not found (runc finds libseccomp with it)', ...(pc ? {} : { fix: 'apt-get install -y pkg-config', packages: ['pkg-config'] }) })
    const seccomp = pc && await hostOk`pkg-config --exists libseccomp`
    checks.push({ name: 'build: libseccomp', ok: seccomp, detail: seccomp ? 'found' : 'libseccomp (headers, static library) not found', ...(seccomp ? {} : { fix: 'apt-get install -y libseccomp-dev', packages: ['libseccomp-dev'] }) })
  }
  if (builds.includes('testbox')) {
    const apt = await hostOk`command -v apt-get`
    checks.push({ name: 'build: apt-get', ok: apt, detail: apt ? 'found (the busybox package of the testbox image)' : 'not found: the testbox image takes busybox from Debian\'s package', ...(apt ? {} : { fix: 'a Debian or Ubuntu host (or a bundle made on one: kubelab bundle)' }) })
  }
  return checks
}

/**
 * Installs `packages` with apt-get (update first only when the install cannot find one). Refuses,
 * naming the command to run, when not root or without apt-get.
 */
export async function installPackages(packages: readonly string[], progress: Progress): Promise<void> {
  if (packages.length === 0) return
  const refuse = (detail: string) => new PreflightError('this host', [{ name: 'install host packages', ok: false, detail, fix: installCommand(packages) }])
  if (process.getuid?.() !== 0) throw refuse('installing packages needs root (sudo -E npx kubelab up --install-deps)')
  if (!(await hostOk`command -v apt-get`)) throw refuse('no apt-get: install these packages with this host\'s package manager')
  progress.info(`installing host packages: ${packages.join(' ')}`)
  await progress.step(`Installing ${packages.length} host package${packages.length === 1 ? '' : 's'} (apt-get)`, async () => {
    const install = () => host`env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${packages}`
    try {
      await install()
    } catch {
      await host`env DEBIAN_FRONTEND=noninteractive apt-get update -q`
      await install()
    }
  })
}
