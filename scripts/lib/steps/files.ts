// Files on a node, converged in one round trip: compare sha256 of every wanted file at once, write
// only those that differ (atomic), and say which changed so a step restarts only what it must.

import { createHash } from 'node:crypto'
import type { Runner } from '../remote/runner.ts'

export interface WantedFile {
  readonly path: string
  readonly content: string
  readonly mode: number
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex')

/** The paths whose content on the node differs from what is wanted (missing counts as different). */
export async function differingFiles(runner: Runner, files: readonly WantedFile[]): Promise<string[]> {
  if (files.length === 0) return []
  const r = await runner.$({ nothrow: true })`for f in ${files.map((f) => f.path)}; do if [ -f "$f" ]; then printf '%s %s\\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$f"; else printf 'missing %s\\n' "$f"; fi; done`
  const have = new Map(r.stdout.trim().split('\n').map((l) => [l.slice(l.indexOf(' ') + 1), l.slice(0, l.indexOf(' '))]))
  return files.filter((f) => have.get(f.path) !== sha(f.content)).map((f) => f.path)
}

/** Writes the files that differ; returns their paths. */
export async function writeFiles(runner: Runner, files: readonly WantedFile[]): Promise<string[]> {
  const changed = await differingFiles(runner, files)
  for (const f of files.filter((x) => changed.includes(x.path))) await runner.writeFile(f.path, f.content, f.mode)
  return changed
}
