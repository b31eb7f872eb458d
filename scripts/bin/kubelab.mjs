#!/usr/bin/env -S node --
// The `kubelab` bin. An installed package (no TypeScript sources beside it) runs dist/kubelab.mjs,
// the CLI compiled by `npm pack` (scripts/bin/build-dist.mjs). A checkout runs its TypeScript
// sources as they are, from one bundle of them: esbuild compiles scripts/ into
// node_modules/.cache/kubelab/cli-<fingerprint>.mjs the first time (about 0.3 s) and again whenever
// a source file changes, with the npm packages it uses inside (all but ssh2 and esbuild). Loading
// one file instead of ~150 transpiled modules and the packages' own files takes about 0.7 s off
// every command (`kubelab version`: 0.33 s here). Where no bundle can be written (read-only
// checkout, esbuild missing) or with KUBELAB_BUNDLE=off, the sources run through tsx's loader.
// `node --` before the script: Node 20 reads `--env-file` anywhere on its command line up to a
// `--`, even after the script name, and exits 9 when the file is missing; kubelab's own
// `--env-file FILE` must reach kubelab. Run it by hand the same way: `node -- scripts/bin/kubelab.mjs`.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)))
const entry = path.join(root, 'scripts', 'kubelab.ts')
const cacheDir = path.join(root, 'node_modules', '.cache', 'kubelab')
const dist = path.join(root, 'dist', 'kubelab.mjs')

/** Names, sizes and change times of every source file (and tsconfig.json, the lockfiles): a new value whenever one changes. */
function fingerprint() {
  const hash = createHash('sha256').update(`${root}\n`)
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (/\.(ts|mts|mjs|js|json)$/.test(e.name)) {
        const st = statSync(p)
        hash.update(`${path.relative(root, p)}\0${st.size}\0${st.ctimeMs}\0${st.mtimeMs}\n`)
      }
    }
  }
  walk(path.join(root, 'scripts'))
  // The npm packages bundled in: a new lockfile (or installed tree) gives a new bundle.
  for (const f of ['tsconfig.json', 'package-lock.json', 'node_modules/.package-lock.json']) {
    const p = path.join(root, f)
    if (existsSync(p)) hash.update(`${f}\0${statSync(p).mtimeMs}`)
  }
  return hash.digest('hex').slice(0, 16)
}

/** The bundle for the current sources, written when missing; undefined when it cannot be. */
async function bundle() {
  if (process.env.KUBELAB_BUNDLE === 'off') return undefined
  try {
    const out = path.join(cacheDir, `cli-${fingerprint()}.mjs`)
    if (existsSync(out)) return out
    const [{ build }, { bundleOptions }] = await Promise.all([import('esbuild'), import('./bundle-options.mjs')])
    mkdirSync(cacheDir, { recursive: true })
    const partial = path.join(cacheDir, `.partial-${process.pid}`)
    await build({
      // node_modules may be a link shared by several checkouts: the bundle names its own root.
      ...bundleOptions({ entry, packageRoot: root }),
      outdir: partial, entryNames: path.basename(out, '.mjs'), outExtension: { '.js': '.mjs' },
      sourcemap: 'linked', sourcesContent: false,
    })
    renameSync(path.join(partial, `${path.basename(out)}.map`), `${out}.map`)
    renameSync(path.join(partial, path.basename(out)), out) // atomic: a concurrent kubelab sees the whole file or none
    rmSync(partial, { recursive: true, force: true })
    // Bundles of older sources, once no kubelab started a moment ago can still be loading one.
    for (const old of readdirSync(cacheDir)) {
      const p = path.join(cacheDir, old)
      if (old.startsWith('cli-') && !old.startsWith(path.basename(out)) && Date.now() - statSync(p).mtimeMs > 600_000) rmSync(p, { force: true })
    }
    return out
  } catch {
    return undefined
  }
}

const compiled = !existsSync(entry) && existsSync(dist) ? dist : await bundle()
if (compiled) {
  await import(pathToFileURL(compiled).href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../kubelab.ts')
}
