// `kubelab artifacts build | lock | list | fetch` and `kubelab bundle -o FILE`.

import { existsSync } from 'node:fs'
import path from 'node:path'
import { buildTargets, ensureBuilt } from '../lib/artifacts/build.ts'
import { writeBundle } from '../lib/artifacts/bundle-write.ts'
import { cacheDir } from '../lib/artifacts/cache.ts'
import { HttpClient } from '../lib/artifacts/fetch.ts'
import { DEFAULT_LOCK_FILE, hostArch, isArch, loadLock, type Arch } from '../lib/artifacts/lock.ts'
import { pinLock, pinProblems } from '../lib/artifacts/pin.ts'
import { listArtifacts, lockFileFor, neededComponents, resolveDetailed } from '../lib/artifacts/resolve.ts'
import { UsageError } from '../lib/errors.ts'
import { formatDuration } from '../lib/log/progress.ts'
import { load, printJson, type CommandContext, type FlagDecl, type FlagDecls, type FlagValues } from './context.ts'

const archFlag = { type: 'string', arg: 'ARCH', help: 'node architecture: amd64, arm64 (default: this host)' } as const satisfies FlagDecl

export const artifactsFlags = { arch: archFlag } as const satisfies FlagDecls
export const artifactsLockFlags = {
  arch: { ...archFlag, help: 'pin only this architecture: amd64, arm64 (default: both)' },
} as const satisfies FlagDecls
export const bundleFlags = {
  output: { type: 'string', short: 'o', arg: 'FILE', help: 'the bundle file to write (required)' },
  arch: archFlag,
} as const satisfies FlagDecls

function archOf(flags: { readonly arch: string | undefined }): Arch {
  if (flags.arch === undefined) return hostArch()
  if (!isArch(flags.arch)) throw new UsageError(`--arch must be amd64 or arm64; got "${flags.arch}"`)
  return flags.arch
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`
}

export async function artifactsBuildCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof artifactsFlags>): Promise<number> {
  const { config } = load(ctx)
  const arch = archOf(flags)
  const cache = cacheDir(ctx.env)
  const lock = loadLock(lockFileFor(config))
  const targets = buildTargets(neededComponents(config, lock))
  const outcomes = await ensureBuilt(targets, { cache, arch, progress: ctx.progress, env: ctx.env })
  if (ctx.options.json) {
    printJson(ctx, {
      arch, cache,
      builds: outcomes.map((o) => ({ build: o.build, version: o.version, action: o.action, durationMs: o.durationMs, dir: o.dir, files: o.record.files })),
    })
    return 0
  }
  for (const o of outcomes) {
    const files = Object.entries(o.record.files)
    const versions = [...new Set(files.map(([, f]) => f.versionOutput ?? '?'))].join('; ')
    const what = o.action === 'built' ? `built in ${formatDuration(o.durationMs ?? 0)}`
      : o.action === 'recorded' ? 'found on disk, recorded in the build lock' : 'up to date'
    ctx.progress.info(` ${o.action === 'up-to-date' ? '=' : '✓'} ${o.build} ${o.version} (${arch})  ${files.length} file${files.length === 1 ? '' : 's'}  ${what}  [${versions}]`)
  }
  const built = outcomes.filter((o) => o.action === 'built').length
  if (outcomes.every((o) => o.action === 'up-to-date')) ctx.progress.info(`nothing to build: ${outcomes.length} components up to date in ${path.join(cache, 'build')}`)
  else ctx.progress.info(`${built} built, ${outcomes.length - built} already there; build lock: ${path.join(cache, 'build.lock.json')}`)
  return 0
}

export async function artifactsLockCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof artifactsLockFlags>): Promise<number> {
  const file = existsSync(path.resolve(ctx.options.config)) ? lockFileFor(load(ctx).config) : DEFAULT_LOCK_FILE
  const results = await pinLock(file, new HttpClient({ attempts: 2 }), flags.arch ? { arches: [archOf(flags)] } : {})
  if (ctx.options.json) printJson(ctx, { file, results })
  else {
    for (const r of results) {
      const mark = r.status === 'pinned' ? '✓' : r.status === 'unchanged' ? '=' : '✗'
      ctx.progress.info(` ${mark} ${r.minor} ${r.component} ${r.version} ${r.arch}  ${r.status}${r.detail ? `: ${r.detail}` : ''}`)
    }
    const pinned = results.filter((r) => r.status === 'pinned').length
    ctx.progress.info(`${pinned} pinned, ${results.filter((r) => r.status === 'unchanged').length} unchanged in ${file}`)
  }
  const problem = pinProblems(results)
  if (problem) throw problem
  return 0
}

export async function artifactsListCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof artifactsFlags>): Promise<number> {
  const { config } = load(ctx)
  const { needed, found, ctx: actx } = await listArtifacts(config, { arch: archOf(flags), progress: ctx.progress, env: ctx.env })
  const rows = needed.flatMap((n) => n.files.map((f) => {
    const a = found.get(n.component.name)?.find((x) => x.file === f.name)
    return {
      component: n.component.name, file: f.name, version: n.component.version, arch: actx.arch, nodes: f.nodes,
      status: a ? 'cached' : 'missing', origin: a?.origin ?? null, path: a?.path ?? null, sha256: a?.sha256 ?? null, size: a?.size ?? null,
      pinned: n.component.sha256[actx.arch] !== null,
    }
  }))
  if (ctx.options.json) {
    printJson(ctx, { source: config.artifacts.source, lock: actx.lock.file, cache: actx.cache, arch: actx.arch, artifacts: rows })
    return 0
  }
  const w = (k: 'component' | 'file' | 'version') => Math.max(k.length, ...rows.map((r) => r[k].length))
  const [wc, wf, wv] = [w('component'), w('file'), w('version')]
  ctx.out(`${'COMPONENT'.padEnd(wc)}  ${'FILE'.padEnd(wf)}  ${'VERSION'.padEnd(wv)}  ${'ORIGIN'.padEnd(8)}  PATH`)
  for (const r of rows) {
    ctx.out(`${r.component.padEnd(wc)}  ${r.file.padEnd(wf)}  ${r.version.padEnd(wv)}  ${(r.origin ?? '-').padEnd(8)}  ${r.path ?? 'missing'}${r.size ? `  ${mib(r.size)}` : ''}`)
  }
  const missing = rows.filter((r) => r.status === 'missing').length
  ctx.progress.info(`${rows.length - missing} of ${rows.length} files cached (source ${config.artifacts.source}, arch ${actx.arch}, cache ${actx.cache})`)
  return 0
}

export async function artifactsFetchCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof artifactsFlags>): Promise<number> {
  const { config } = load(ctx)
  const http = new HttpClient()
  const r = await ctx.progress.step(`Resolving artifacts (source ${config.artifacts.source})`,
    () => resolveDetailed(config, { arch: archOf(flags), progress: ctx.progress, env: ctx.env, http }),
    (x) => `${x.artifacts.length} files, ${x.fetched} fetched, ${x.builds.filter((b) => b.action === 'built').length} built, ${http.requests} requests`)
  if (ctx.options.json) printJson(ctx, { artifacts: r.artifacts, requests: http.requests })
  return 0
}

export async function bundleCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof bundleFlags>): Promise<number> {
  if (!flags.output) throw new UsageError('bundle needs -o FILE', { hint: 'kubelab bundle -o kubelab-bundle.tar' })
  const { config } = load(ctx)
  const out = path.resolve(flags.output)
  const manifest = await ctx.progress.step(`Writing bundle ${flags.output}`,
    () => writeBundle(config, out, { arch: archOf(flags), progress: ctx.progress, env: ctx.env }),
    (m) => `${m.files.length} files, ${mib(m.files.reduce((s, f) => s + f.size, 0))}`)
  if (ctx.options.json) printJson(ctx, { bundle: out, manifest })
  return 0
}
