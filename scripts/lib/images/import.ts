// Local images (OCI tars built here) into containerd's k8s.io namespace on every node, each under
// its reference and any aliases (more references of the same image: `ctr images tag`, no second
// copy). Per node one `ctr images ls`, then only what is missing at its digest is uploaded,
// imported and removed again, labelled pinned (kubelet's image GC keeps it); nodes in parallel,
// one progress line per image.

import type { Progress } from '../log/progress.ts'
import { CTR, IMAGES_DIR } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'
import { parseCtrImages, type NodeImage } from './load.ts'
import type { LocalImage } from './sandbox.ts'

/** containerd's CRI reports an image with this label as pinned, which kubelet's image GC leaves alone. */
export const PINNED = 'io.cri-containerd.pinned=pinned'

/** An image to have on the nodes, under its own reference and `aliases`. */
export interface ImportItem {
  readonly image: LocalImage
  readonly aliases: readonly string[]
}

/** What one node lacks of an item: the import (its ref not at its digest) and/or alias tags (pure). */
export function lacking(listed: readonly NodeImage[], item: ImportItem): { image: boolean; aliases: string[] } {
  const has = (ref: string) => listed.some((l) => l.ref === ref && l.digest === item.image.digest)
  return { image: !has(item.image.ref), aliases: item.aliases.filter((a) => !has(a)) }
}

export interface ImportResult {
  readonly refs: readonly string[]
  readonly digest: string
  readonly imported: readonly string[]
  readonly present: readonly string[]
  readonly failed: readonly { node: string; error: unknown }[]
}

/** Imports every item on every node that lacks it; failures are in the results, not thrown. */
export async function importImages(o: { nodes: readonly NodeHandle[]; items: readonly ImportItem[]; progress: Progress }): Promise<ImportResult[]> {
  const perNode = await Promise.all(o.nodes.map(async (n) => {
    const done = new Map<number, 'imported' | 'present' | { error: unknown }>()
    const took = new Map<number, number>()
    let listed: NodeImage[]
    try {
      listed = parseCtrImages((await n.runner.$`${CTR} -n k8s.io images ls`).stdout)
    } catch (error) {
      for (const i of o.items.keys()) done.set(i, { error })
      return { node: n.spec.name, done, took }
    }
    for (const [i, item] of o.items.entries()) {
      const started = Date.now()
      const need = lacking(listed, item)
      if (!need.image && need.aliases.length === 0) {
        done.set(i, 'present')
        continue
      }
      try {
        if (need.image) {
          const remote = `${IMAGES_DIR}/${item.image.tar.split('/').pop()}`
          await n.runner.upload(item.image.tar, remote, item.image.sha256)
          await n.runner.$`${CTR} -n k8s.io images import --local ${remote} >/dev/null || { rc=$?; rm -f ${remote}; exit $rc; }; rm -f ${remote}`
        }
        for (const alias of item.aliases) await n.runner.$`${CTR} -n k8s.io images tag --force ${item.image.ref} ${alias} >/dev/null`
        // Pinned for CRI: kubelet's image garbage collection never removes them between tests.
        for (const ref of [...(need.image ? [item.image.ref] : []), ...need.aliases]) await n.runner.$`${CTR} -n k8s.io images label ${ref} ${PINNED} >/dev/null`
        done.set(i, 'imported')
      } catch (error) {
        done.set(i, { error })
      }
      took.set(i, Date.now() - started)
    }
    return { node: n.spec.name, done, took }
  }))
  return o.items.map((item, i) => {
    const outcome = (want: 'imported' | 'present') => perNode.filter((p) => p.done.get(i) === want).map((p) => p.node)
    const failed = perNode.flatMap((p) => {
      const d = p.done.get(i)
      return typeof d === 'object' ? [{ node: p.node, error: d.error }] : []
    })
    const r: ImportResult = { refs: [item.image.ref, ...item.aliases], digest: item.image.digest, imported: outcome('imported'), present: outcome('present'), failed }
    const parts = [`${o.nodes.length} node${o.nodes.length === 1 ? '' : 's'}`, `${r.imported.length} imported`, `${r.present.length} had it`]
    if (failed.length) parts.push(`${failed.length} failed (${failed.map((f) => f.node).join(', ')})`)
    // The slowest node's time for this image (nodes run in parallel, images one after another on each).
    o.progress.stepLine(`${r.refs.join(', ')}  ${item.image.digest.slice(0, 19)}`, failed.length === 0, parts.join(', '), Math.max(0, ...perNode.map((p) => p.took.get(i) ?? 0)))
    return r
  })
}
