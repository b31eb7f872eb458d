// Where kubelab's own files are (templates/, images/, artifacts/, scripts/): the package root, the
// nearest folder above this module whose package.json names "kubelab". Found by walking up rather
// than by a fixed `../../..`. The CLI usually runs from a bundle of these sources, which
// scripts/bin/kubelab.mjs writes under node_modules/.cache/kubelab/ with the root compiled in
// (`__KUBELAB_PACKAGE_ROOT__`): node_modules may be a link that several checkouts share.

import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'kubelab') return dir
      } catch { /* not ours: keep looking */ }
    }
    if (path.dirname(dir) === dir) throw new Error(`kubelab: no package.json named "kubelab" above ${from}`)
  }
}

declare const __KUBELAB_PACKAGE_ROOT__: string | undefined

/** The kubelab package's root folder. */
export const PACKAGE_ROOT = typeof __KUBELAB_PACKAGE_ROOT__ === 'string'
  ? __KUBELAB_PACKAGE_ROOT__
  : findRoot(path.dirname(fileURLToPath(import.meta.url)))

/** A path inside the kubelab package, e.g. `packagePath('templates')`. */
export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts)
}
