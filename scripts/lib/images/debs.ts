// Debian packages as an image's root: the host's own apt (its sources and lists, nothing
// configured here) resolves a set of packages with every dependency, as if nothing were installed
// (`apt-get -s` against an empty dpkg status, no Recommends), downloads each .deb once into
// `<cache>/debs` (`apt-get download NAME=VERSION`, never installed on the host), and unpacks them
// with `dpkg-deb -x` (no maintainer scripts) into one directory, merged-/usr as Debian 12 is
// (`/bin`, `/sbin`, `/lib*` symlinks into `/usr`). Cached by the .debs' hashes; written into a
// directory of this process's own and renamed, so concurrent or interrupted runs leave nothing
// half-made that looks finished.

import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readdirSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { ArtifactError } from '../errors.ts'
import { host } from '../host/exec.ts'
import type { ImageFile } from '../artifacts/oci.ts'

/** One resolved package. */
export interface DebPackage {
  readonly name: string
  readonly version: string
  readonly arch: string
}

/** A downloaded package: the .deb in the cache and its sha256. */
export interface DebFile extends DebPackage {
  readonly file: string
  readonly sha256: string
}

/** `Inst NAME (VERSION SOURCE [ARCH])` lines of `apt-get -s install` (pure). */
export function parseAptSimulation(text: string): DebPackage[] {
  const out: DebPackage[] = []
  for (const line of text.split('\n')) {
    const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([^\]]+)\]\)/.exec(line)
    if (m) out.push({ name: m[1]!, version: m[2]!, arch: m[3]! })
  }
  return out
}

/** The file name `apt-get download` gives a package (`:` of an epoch written `%3a`). */
export function debFileName(p: DebPackage): string {
  return `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.arch}.deb`
}

/** `names` and everything they depend on (no Recommends), resolved by the host's apt as for an empty system. */
export async function resolvePackages(names: readonly string[]): Promise<DebPackage[]> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kubelab-apt-'))
  try {
    const status = path.join(tmp, 'status')
    await writeFile(status, '')
    const r = await host`apt-get -s -q -o Dir::State::status=${status} -o APT::Install-Recommends=false -o APT::Install-Suggests=false install ${names}`
    const pkgs = parseAptSimulation(r.stdout)
    const missing = names.filter((n) => !pkgs.some((p) => p.name === n))
    if (missing.length) throw new ArtifactError(`apt resolved no package ${missing.join(', ')} (from the host's apt sources)`, { component: 'debs' }, { hint: 'apt-get update, then try again' })
    return pkgs
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  return h.digest('hex')
}

/** Every package's .deb in `<cache>/debs`, downloaded (one `apt-get download` for all missing) when not there. */
export async function downloadDebs(cacheDir: string, pkgs: readonly DebPackage[]): Promise<DebFile[]> {
  const dir = path.join(cacheDir, 'debs')
  await mkdir(dir, { recursive: true })
  const missing = pkgs.filter((p) => !existsSync(path.join(dir, debFileName(p))))
  if (missing.length) {
    const tmp = await mkdtemp(path.join(dir, '.download-'))
    try {
      // `apt-get download` writes into the working directory; as root it warns that it runs unsandboxed.
      await host`cd ${tmp} && apt-get download -q ${missing.map((p) => `${p.name}=${p.version}`)}`
      for (const f of readdirSync(tmp).filter((x) => x.endsWith('.deb'))) await rename(path.join(tmp, f), path.join(dir, f))
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }
  const out: DebFile[] = []
  for (const p of pkgs) {
    const file = path.join(dir, debFileName(p))
    if (!existsSync(file)) throw new ArtifactError(`apt-get download ${p.name}=${p.version} left no ${debFileName(p)} in ${dir}`, { component: 'debs' })
    out.push({ ...p, file, sha256: await sha256File(file) })
  }
  return out
}

/** One `update-alternatives --install` link (or `--slave` of one) a maintainer script sets up. */
export interface Alternative {
  readonly link: string
  readonly path: string
  readonly priority: number
}

/** The `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...` of a maintainer script (pure; words with `$` skipped). */
export function parseAlternatives(script: string): Alternative[] {
  const out: Alternative[] = []
  const joined = script.replace(/\\\n/g, ' ')
  for (const line of joined.split('\n')) {
    const words = line.trim().split(/\s+/)
    const at = words.indexOf('update-alternatives')
    if (at === -1 || !words.includes('--install')) continue
    const w = words.slice(at + 1)
    const i = w.indexOf('--install')
    const [link, , target, prio] = w.slice(i + 1, i + 5)
    if (!link || !target || !prio || /\$/.test(link + target + prio) || !/^-?\d+$/.test(prio)) continue
    const priority = Number(prio)
    out.push({ link, path: target, priority })
    for (let j = 0; j < w.length; j++) {
      if (w[j] !== '--slave') continue
      const [sl, , sp] = w.slice(j + 1, j + 4)
      if (sl && sp && !/\$/.test(sl + sp) && !sp.startsWith('--')) out.push({ link: sl, path: sp, priority })
    }
  }
  return out
}

/** Bump when unpackDebs changes what it makes (part of its cache key). */
export const UNPACK_REVISION = 2

/** Top-level directories Debian 12 merges into /usr. */
const MERGED = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']

/** The .debs unpacked into `<cache>/build/debroot-<hash>/` (merged /usr); returns that directory. */
export async function unpackDebs(cacheDir: string, debs: readonly DebFile[]): Promise<string> {
  const key = createHash('sha256').update(`${UNPACK_REVISION}\n`).update(debs.map((d) => d.sha256).sort().join('\n')).digest('hex').slice(0, 12)
  const out = path.join(cacheDir, 'build', `debroot-${key}`)
  if (existsSync(path.join(out, 'usr'))) return out
  await mkdir(path.dirname(out), { recursive: true })
  const partial = await mkdtemp(`${out}.partial-`)
  try {
    for (const d of debs) await host`dpkg-deb -x ${d.file} ${partial}`
    for (const top of MERGED) {
      const at = path.join(partial, top)
      const st = await lstat(at).catch(() => undefined)
      if (!st?.isDirectory()) continue
      await mkdir(path.join(partial, 'usr', top), { recursive: true })
      await host`cp -a ${`${at}/.`} ${path.join(partial, 'usr', top)}`
      await rm(at, { recursive: true, force: true })
    }
    for (const top of ['bin', 'sbin', 'lib', 'lib64']) {
      if (!existsSync(path.join(partial, top))) await host`ln -s ${`usr/${top}`} ${path.join(partial, top)}`
    }
    // The links maintainer scripts would make with update-alternatives (nc, awk, which, ...): the best priority wins.
    const best = new Map<string, Alternative>()
    for (const d of debs) {
      const script = await host`dpkg-deb -I ${d.file} postinst 2>/dev/null || true`
      for (const a of parseAlternatives(script.stdout)) if ((best.get(a.link)?.priority ?? -Infinity) < a.priority) best.set(a.link, a)
    }
    for (const a of best.values()) {
      if (a.link.startsWith('/usr/share/man/')) continue
      const at = path.join(partial, a.link)
      if (existsSync(at) || !existsSync(path.join(partial, a.path))) continue
      await mkdir(path.dirname(at), { recursive: true })
      await host`ln -s ${a.path} ${at}`
    }
    if (existsSync(path.join(out, 'usr'))) return out // a concurrent run finished first
    await rm(out, { recursive: true, force: true })
    await rename(partial, out)
  } finally {
    await rm(partial, { recursive: true, force: true })
  }
  return out
}

/** Paths left out of images: documentation, manuals, translations (each package's copyright file is kept). */
export function keptInImage(rel: string): boolean {
  if (/^usr\/share\/(man|info|locale|lintian|linda|bug|bash-completion|zsh)(\/|$)/.test(rel)) return false
  if (/^usr\/share\/doc\//.test(rel)) return /^usr\/share\/doc\/[^/]+(\/copyright)?$/.test(rel)
  return true
}

/** A directory on this host as image files under `prefix`: files with their modes, symlinks, directories (empty ones too). */
export async function treeFiles(root: string, keep: (rel: string) => boolean = () => true, prefix = ''): Promise<ImageFile[]> {
  const out: ImageFile[] = []
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name
      if (!keep(r)) continue
      const abs = path.join(root, r)
      const st = await lstat(abs)
      const at = prefix ? `${prefix}/${r}` : r
      if (st.isSymbolicLink()) out.push({ path: at, symlink: await readlink(abs) })
      else if (st.isDirectory()) {
        out.push({ path: at, dir: true, mode: st.mode & 0o7777 })
        await walk(r)
      } else if (st.isFile()) out.push({ path: at, source: abs, mode: st.mode & 0o7777 })
      // device nodes, FIFOs, sockets: never in a package's data
    }
  }
  await walk('')
  return out
}
