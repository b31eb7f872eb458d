// The test images `kubelab conformance` puts on every node before e2e.test runs: the references the
// built e2e.test prints with `--list-images` (the exact names its pods use, with IfNotPresent, so
// no registry and no repo list), each mapped to its recipe (lib/images/e2e.ts), built here when not
// cached and imported where missing. References that share a recipe (agnhost 2.59 and 2.55) are one
// image under several names. An image without a recipe is named, and not built.

import { execFile } from 'node:child_process'
import type { Artifact } from '../artifacts/cache.ts'
import type { Arch } from '../artifacts/lock.ts'
import { UsageError } from '../errors.ts'
import { E2E_RECIPES, ensureE2eImage, parseRef, recipeFor, type BuiltImage, type E2eRecipe, type ImageRef } from '../images/e2e.ts'
import { importImages, type ImportResult } from '../images/import.ts'
import type { Progress } from '../log/progress.ts'
import type { NodeHandle } from '../node/types.ts'

/**
 * Image names (reference paths) the [Conformance] tests of v1.34/v1.35 start pods from (read from
 * test/e2e: every file with a ConformanceIt, and the framework helpers they call). Every one must
 * have a recipe; the others of `--list-images` are for tests outside the conformance set.
 */
export const CONFORMANCE_IMAGES: readonly string[] = [
  'e2e-test-images/agnhost', 'e2e-test-images/busybox', 'pause', 'e2e-test-images/nginx', 'e2e-test-images/jessie-dnsutils',
  'e2e-test-images/sample-apiserver', 'etcd', 'e2e-test-images/nonewprivs', 'e2e-test-images/nautilus',
]

/** The references of `e2e.test --list-images` (one per line; anything else ignored) (pure). */
export function parseImageList(text: string): string[] {
  const refs = text.split('\n').map((l) => l.trim()).filter((l) => /^[a-z0-9.-]+(:\d+)?\/[^\s]+:[^\s]+$/i.test(l))
  return [...new Set(refs)]
}

/** One image to build: its recipe, the reference it is built under, and the other references it also answers to. */
export interface PlannedImage {
  readonly recipe: E2eRecipe
  readonly primary: ImageRef
  readonly aliases: readonly string[]
}

export interface ImagePlan {
  readonly images: readonly PlannedImage[]
  /** References without a recipe, with whether a [Conformance] test uses them. */
  readonly unbuildable: readonly { ref: string; conformance: boolean }[]
}

/** Numeric-aware tag order: 2.59 after 2.55, 1.15-4 after 1.14-4. */
function compareTags(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true })
}

/** Every reference to a recipe (grouped: the newest tag is built, the others are aliases), or to `unbuildable` (pure). */
export function planImages(refs: readonly string[]): ImagePlan {
  const byRecipe = new Map<string, ImageRef[]>()
  const unbuildable: { ref: string; conformance: boolean }[] = []
  for (const ref of refs) {
    const r = parseRef(ref)
    if (!recipeFor(r.name)) {
      unbuildable.push({ ref, conformance: CONFORMANCE_IMAGES.includes(r.name) })
      continue
    }
    byRecipe.set(r.name, [...(byRecipe.get(r.name) ?? []), r])
  }
  const images = [...byRecipe.entries()].map(([name, rs]) => {
    const sorted = [...rs].sort((a, b) => compareTags(b.tag, a.tag))
    return { recipe: recipeFor(name)!, primary: sorted[0]!, aliases: sorted.slice(1).map((r) => r.ref) }
  })
  // In recipe order: the order of E2E_RECIPES (agnhost first, what most tests need).
  images.sort((a, b) => E2E_RECIPES.indexOf(a.recipe) - E2E_RECIPES.indexOf(b.recipe))
  return { images, unbuildable }
}

/** What to say about the references without a recipe: a warning naming those [Conformance] tests need, a line for the rest (pure). */
export function unbuildableReport(plan: ImagePlan): { warning?: string; info?: string } {
  const needed = plan.unbuildable.filter((u) => u.conformance).map((u) => u.ref).sort()
  const others = plan.unbuildable.filter((u) => !u.conformance).map((u) => u.ref).sort()
  return {
    ...(needed.length ? { warning: `cannot build ${needed.join(', ')} (no recipe), which [Conformance] tests use: those tests will fail to start their pods` } : {}),
    ...(others.length ? { info: `not built (no recipe; used only outside the [Conformance] tests): ${others.join(' ')}` } : {}),
  }
}

/** `e2e.test --list-images`: the references this build of the suite uses (it reads no cluster). */
export function listE2eImages(e2e: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(e2e, ['--list-images'], { timeout: 60_000, maxBuffer: 4 << 20, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout, stderr) => {
      if (err) return reject(new UsageError(`${e2e} --list-images failed: ${(stderr || err.message).trim().split('\n').pop()}`))
      const refs = parseImageList(stdout)
      if (refs.length === 0) return reject(new UsageError(`${e2e} --list-images printed no image reference`))
      resolve(refs)
    })
  })
}

export interface ConformanceImagesOptions {
  readonly refs: readonly string[]
  readonly kubernetesVersion: string
  readonly cache: string
  readonly arch: Arch
  readonly coredns?: Artifact
  readonly nodes: readonly NodeHandle[]
  readonly progress: Progress
}

export interface ConformanceImages {
  readonly plan: ImagePlan
  readonly built: readonly BuiltImage[]
  readonly imported: readonly ImportResult[]
}

/** Builds (or finds in the cache) every image of the plan and imports it where missing; names what it cannot build. */
export async function ensureConformanceImages(o: ConformanceImagesOptions): Promise<ConformanceImages> {
  const plan = planImages(o.refs)
  const said = unbuildableReport(plan)
  if (said.warning) o.progress.warn(said.warning)
  if (said.info) o.progress.info(said.info)
  const built: BuiltImage[] = []
  for (const p of plan.images) {
    built.push(await ensureE2eImage(p.recipe, p.primary, { kubernetesVersion: o.kubernetesVersion, cache: o.cache, arch: o.arch, progress: o.progress, ...(o.coredns ? { coredns: o.coredns } : {}) }))
  }
  const items = plan.images.map((p, i) => {
    const image = built[i]!
    // A reused image (pause = the sandbox image) keeps its own name: the e2e reference is an alias.
    const aliases = [p.primary.ref, ...p.aliases].filter((r) => r !== image.ref)
    return { image, aliases }
  })
  const imported = await importImages({ nodes: o.nodes, items, progress: o.progress })
  const failed = imported.flatMap((r) => r.failed)
  if (failed.length) throw failed[0]!.error
  return { plan, built, imported }
}
