// The build source: makes missing binaries from Go modules with build.sh (via zx), then records
// sha256, size and the `--version` output of each file in the local build lock (build.lock.json).
// Idempotent: a build whose record matches the files on disk is skipped; output found on disk
// without a record (an earlier or interrupted run) is recorded without rebuilding; build.sh
// itself writes into DIR.partial and renames, so an interrupted build is simply redone.

import { execFile } from 'node:child_process'
import { access, constants } from 'node:fs/promises'
import path from 'node:path'
import { $ } from 'zx'
import { ArtifactError, CommandError, PreflightError } from '../errors.ts'
import { buildChecks } from '../host/deps.ts'
import { formatDuration, type Progress } from '../log/progress.ts'
import { withFileLock } from '../providers/common/lock.ts'
import {
  buildDir, buildKey, readBuildLock, recordBuild, sizeOf,
  type BuildRecord, type BuiltFile,
} from './cache.ts'
import { hostArch, type Arch, type LockComponent, type LockFile } from './lock.ts'
import { digestOf } from './verify.ts'
import { packagePath } from '../host/package.ts'

export const BUILD_SCRIPT = packagePath('scripts/lib/artifacts/build/build.sh')

/** One build.sh invocation: a build component at a version, and the files kubelab needs from it. */
export interface BuildTarget {
  readonly build: string
  readonly version: string
  readonly files: readonly LockFile[]
}

export interface BuildOutcome {
  readonly build: string
  readonly version: string
  readonly arch: Arch
  /** built: build.sh ran; recorded: output was on disk without a record; up-to-date: nothing to do. */
  readonly action: 'built' | 'recorded' | 'up-to-date'
  readonly durationMs: number | null
  readonly dir: string
  readonly record: BuildRecord
}

/** Groups the needed lock components by (build, version): kubelet and kubectl share one build. */
export function buildTargets(components: readonly { component: LockComponent; files: readonly LockFile[] }[]): BuildTarget[] {
  const byKey = new Map<string, { build: string; version: string; files: LockFile[] }>()
  for (const { component, files } of components) {
    const key = `${component.build}@${component.version}`
    const t = byKey.get(key) ?? { build: component.build, version: component.version, files: [] }
    for (const f of files) if (!t.files.some((x) => x.name === f.name)) t.files.push(f)
    byKey.set(key, t)
  }
  return [...byKey.values()]
}

/** Looks a target up in the build lock; the record counts only when every file is on disk with its size. */
export async function builtRecord(cache: string, target: BuildTarget, arch: Arch): Promise<BuildRecord | undefined> {
  const lock = await readBuildLock(cache)
  const record = lock.builds[buildKey(target.build, target.version, arch)]
  if (!record) return undefined
  const dir = buildDir(cache, target.build, target.version, arch)
  for (const f of target.files) {
    const r = record.files[f.name]
    if (!r || (await sizeOf(path.join(dir, f.name))) !== r.size) return undefined
  }
  return record
}

export async function findOnPath(cmd: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue
    const p = path.join(dir, cmd)
    try {
      await access(p, constants.X_OK)
      return p
    } catch { /* next */ }
  }
  return undefined
}

/** The first line that carries a version number (else the first non-empty line). */
function firstLine(text: string): string | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  return lines.find((l) => /\d+\.\d+/.test(l)) ?? lines[0]
}

/** The first line the binary prints when asked for its version; null when it cannot tell. */
export function versionOutput(file: string, args: readonly string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: 10_000, env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) => {
      if (err) return resolve(null)
      resolve(firstLine(stdout) ?? firstLine(stderr) ?? null)
    })
  })
}

/**
 * For a binary with no version flag (version_args: []): the module and version Go stamped into it
 * (`go version -m`: `go.universe.tf/metallb v0.15.2`); null when it has no build info.
 */
export function goModuleVersion(file: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('go', ['version', '-m', file], { timeout: 10_000, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/' } }, (err, stdout) => {
      const mod = err ? undefined : /^\tmod\t(\S+)\t(\S+)/m.exec(stdout)
      resolve(mod ? `${mod[1]} ${mod[2]}` : null)
    })
  })
}

async function goVersion(env: Readonly<Record<string, string | undefined>>): Promise<string | null> {
  const go = await findOnPath('go', env)
  if (!go) return null
  return versionOutput(go, ['version'])
}

async function describe(cache: string, dir: string, files: readonly LockFile[], arch: Arch): Promise<Record<string, BuiltFile>> {
  const out: Record<string, BuiltFile> = {}
  const runnable = arch === hostArch()
  for (const f of files) {
    const file = path.join(dir, f.name)
    const sha256 = (await digestOf(cache, file))! // kept by file identity, so the first use need not hash again
    const size = (await sizeOf(file))!
    const version = f.versionArgs.length === 0 ? goModuleVersion(file) : runnable ? versionOutput(file, f.versionArgs) : Promise.resolve(null)
    out[f.name] = { sha256, size, versionOutput: await version }
  }
  return out
}

async function missingFiles(dir: string, files: readonly LockFile[]): Promise<string[]> {
  const missing: string[] = []
  for (const f of files) if ((await sizeOf(path.join(dir, f.name))) === undefined) missing.push(f.name)
  return missing
}

export interface BuildOptions {
  cache: string
  arch: Arch
  progress: Progress
  env?: Readonly<Record<string, string | undefined>>
  /** build.sh to run (tests may substitute a fake). */
  script?: string
}

/** Makes every target available in the build cache and the build lock; returns what it did for each. */
export async function ensureBuilt(targets: readonly BuildTarget[], options: BuildOptions): Promise<BuildOutcome[]> {
  const { cache, arch } = options
  // What the builds about to run need of this host, all named at once before the first starts.
  const toBuild: string[] = []
  for (const t of targets) {
    if (!(await builtRecord(cache, t, arch)) && (await missingFiles(buildDir(cache, t.build, t.version, arch), t.files)).length) toBuild.push(t.build)
  }
  const failed = (await buildChecks(toBuild)).filter((c) => !c.ok)
  if (failed.length) throw new PreflightError('this host', failed)
  const outcomes: BuildOutcome[] = []
  for (const target of targets) {
    const dir = buildDir(cache, target.build, target.version, arch)
    const label = `${target.build} ${target.version} (${arch})`
    // One build of an entry at a time across kubelab processes; the second finds it done.
    outcomes.push(await withFileLock(`${dir}.lock`, { wait: true, what: `building ${label}`, onWait: (holder) => options.progress.info(`waiting for ${holder}: one build of ${label} at a time`) },
      () => buildOne(target, dir, label, options)))
  }
  return outcomes
}

async function buildOne(target: BuildTarget, dir: string, label: string, options: BuildOptions): Promise<BuildOutcome> {
  const { cache, arch, progress } = options
  const env = options.env ?? process.env
  const existing = await builtRecord(cache, target, arch)
  if (existing) {
    progress.debug(1, `= ${label}: up to date (${dir})`)
    return { build: target.build, version: target.version, arch, action: 'up-to-date', durationMs: null, dir, record: existing }
  }
  let action: BuildOutcome['action'] = 'recorded'
  let durationMs: number | null = null
  const missing = await missingFiles(dir, target.files)
  if (missing.length) {
    if (!(await findOnPath('go', env))) {
      throw new ArtifactError(`cannot build ${label}: no \`go\` on PATH`, { component: target.build }, {
        hint: 'install Go (>= 1.25), or use artifacts.source: download | mirror | bundle',
      })
    }
    action = 'built'
    const started = Date.now()
    await progress.step(`Building ${label} from Go modules`, () => runBuildScript(options.script ?? BUILD_SCRIPT, target, dir, arch, env, progress),
      undefined, { estimateMs: await lastBuildMs(cache, target.build) })
    durationMs = Date.now() - started
    const still = await missingFiles(dir, target.files)
    if (still.length) throw new ArtifactError(`build of ${label} did not produce ${still.join(', ')}`, { component: target.build })
  }
  const record: BuildRecord = {
    build: target.build,
    version: target.version,
    arch,
    recordedAt: new Date().toISOString(),
    durationMs,
    goVersion: await goVersion(env),
    files: await describe(cache, dir, target.files, arch),
  }
  await recordBuild(cache, record)
  progress.debug(1, `${action === 'built' ? '✓ built' : '+ recorded'} ${label} in ${durationMs === null ? '-' : formatDuration(durationMs)}`)
  return { build: target.build, version: target.version, arch, action, durationMs, dir, record }
}

/** How long the last recorded build of `build` (any version) took: the estimate for the next. */
export async function lastBuildMs(cache: string, build: string): Promise<number | undefined> {
  const records = Object.values((await readBuildLock(cache)).builds).filter((r) => r.build === build && r.durationMs !== null)
  return records.sort((a, b) => b.recordedAt.localeCompare(a.recordedAt))[0]?.durationMs ?? undefined
}

async function runBuildScript(
  script: string, target: BuildTarget, dir: string, arch: Arch,
  env: Readonly<Record<string, string | undefined>>, progress: Progress,
): Promise<void> {
  const started = Date.now()
  const childEnv = { ...env, GOARCH: arch } as NodeJS.ProcessEnv
  const p = $({ env: childEnv, quiet: true, verbose: false, nothrow: true })`bash ${script} ${target.build} ${target.version} ${dir}`
  p.stderr.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) {
      if (!l) continue
      // build.sh's own phase lines (`[build kubernetes v1.35.4] compiling kubelet ...`): the live reason.
      const phase = /^\[build \S+ \S+\] (.*)$/.exec(l)
      if (phase) progress.status(phase[1]!)
      progress.debug(3, l)
    }
  })
  const out = await p
  if (out.exitCode !== 0) {
    throw new CommandError({
      node: 'localhost',
      command: `bash ${script} ${target.build} ${target.version} ${dir}`,
      exitCode: out.exitCode,
      signal: out.signal ?? null,
      stdout: out.stdout,
      stderr: out.stderr,
      durationMs: Date.now() - started,
    }, { hint: 'rerun with -vvv to stream the build; Go module and build caches make the retry fast' })
  }
}
