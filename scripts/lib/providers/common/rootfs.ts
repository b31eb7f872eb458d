// Debian root filesystems built with debootstrap from the host's own apt sources (or a mirror from
// config/.env), cached by a hash of the recipe and built at most once at a time (a lock), written
// into a temp directory and renamed, so an interrupted build leaves nothing that looks finished.

import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { PreflightError } from '../../errors.ts'
import { host } from '../../host/exec.ts'
import type { Progress } from '../../log/progress.ts'
import { withFileLock } from './lock.ts'

export interface RootfsRecipe {
  /** Name of the image, part of its cache folder name. */
  readonly name: string
  readonly suite: string
  readonly variant: 'minbase'
  readonly include: readonly string[]
  /** Runs after debootstrap with the new root as its only argument (on the host, not chrooted). */
  readonly customize: (root: string) => Promise<void>
  /** Bump when `customize` changes what it writes: it is part of the cache key. */
  readonly revision: number
}

export function recipeHash(recipe: RootfsRecipe): string {
  const key = JSON.stringify({ n: recipe.name, s: recipe.suite, v: recipe.variant, i: [...recipe.include].sort(), r: recipe.revision })
  return createHash('sha256').update(key).digest('hex').slice(0, 12)
}

/** Parses apt sources (one-line and deb822) and returns the URI serving `suite` (not -security). */
export function mirrorFromAptSources(suite: string, files: readonly { name: string; text: string }[]): string | undefined {
  for (const { name, text } of files) {
    if (name.endsWith('.sources')) {
      for (const block of text.split(/\n\s*\n/)) {
        const field = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'mi').exec(block)?.[1]?.trim()
        const enabled = (field('Enabled') ?? 'yes').toLowerCase() !== 'no'
        const types = (field('Types') ?? '').split(/\s+/)
        const suites = (field('Suites') ?? '').split(/\s+/)
        const uri = (field('URIs') ?? '').split(/\s+/)[0]
        if (enabled && types.includes('deb') && suites.includes(suite) && uri) return uri
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line)
        if (m && m[2] === suite) return m[1]
      }
    }
  }
  return undefined
}

export function hostDebianMirror(suite: string, aptDir = '/etc/apt'): string | undefined {
  const files: { name: string; text: string }[] = []
  const read = (p: string) => { try { files.push({ name: p, text: readFileSync(p, 'utf8') }) } catch { /* absent */ } }
  read(path.join(aptDir, 'sources.list'))
  try {
    for (const f of readdirSync(path.join(aptDir, 'sources.list.d')).sort()) {
      if (f.endsWith('.list') || f.endsWith('.sources')) read(path.join(aptDir, 'sources.list.d', f))
    }
  } catch { /* no directory */ }
  return mirrorFromAptSources(suite, files)
}

export interface EnsureRootfsOptions {
  /** Cache folder for images, e.g. ~/.cache/kubelab/images. */
  cacheDir: string
  /** Debian mirror; default: from the host's apt sources. */
  mirror?: string
  progress: Progress
}

/** The cached root filesystem for `recipe`, built first when missing. Returns its path. */
export async function ensureRootfs(recipe: RootfsRecipe, options: EnsureRootfsOptions): Promise<string> {
  const dir = path.join(options.cacheDir, `${recipe.name}-${recipe.suite}-${recipeHash(recipe)}`)
  const rootfs = path.join(dir, 'rootfs')
  const done = path.join(dir, 'recipe.json')
  if (existsSync(done)) return rootfs
  await mkdir(options.cacheDir, { recursive: true })
  return withFileLock(`${dir}.lock`, { wait: true, what: `building image ${path.basename(dir)}` }, async () => {
    if (existsSync(done)) return rootfs // another process built it while we waited
    const mirror = options.mirror ?? hostDebianMirror(recipe.suite)
    if (!mirror) {
      throw new PreflightError('this host', [{
        name: 'debian mirror',
        ok: false,
        detail: `no apt source for "${recipe.suite}" in /etc/apt and no mirror configured`,
        fix: 'set provider.debianMirror in cluster.config.yaml or KUBELAB_DEBIAN_MIRROR in .env',
      }])
    }
    const tmp = `${dir}.partial`
    await rm(tmp, { recursive: true, force: true })
    await mkdir(tmp, { recursive: true })
    await options.progress.step(`Building the ${recipe.name} image (debootstrap ${recipe.suite}, once)`, async () => {
      await host`debootstrap --variant=${recipe.variant} --include=${recipe.include.join(',')} ${recipe.suite} ${path.join(tmp, 'rootfs')} ${mirror}`
      await recipe.customize(path.join(tmp, 'rootfs'))
      await writeFile(path.join(tmp, 'recipe.json'), JSON.stringify({ ...recipe, customize: undefined, mirror, builtAt: new Date().toISOString() }, null, 2))
    })
    await rm(dir, { recursive: true, force: true })
    await rename(tmp, dir)
    return rootfs
  })
}
