// Files on a node, converged in one round trip: compare sha256 of every wanted file at once, write
// (or upload) only those that differ, atomically, and say which changed so a step restarts only
// what it must.

import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { quote } from '../remote/quote.ts'
import type { Runner } from '../remote/types.ts'

export interface WantedFile {
  readonly path: string
  readonly content: string
  readonly mode: number
}

/** A file that exists on the host (certificates, keys, kubeconfigs): uploaded, never inlined. */
export interface LocalFile {
  readonly path: string
  readonly local: string
  readonly sha256: string
  readonly mode: number
}

export const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex')

/**
 * The shell command printing `sha256  path` for each of `paths` that is a readable file (one
 * sha256sum for all of them: a re-run check forks once, not three times per file); never fails.
 */
export function hashCommand(paths: readonly string[]): string {
  return `sha256sum -- ${paths.map(quote).join(' ')} 2>/dev/null || true`
}

/** sha256 by path from hashCommand's output (an escaped line, `\\...`, names no path we asked for). */
export function parseHashes(stdout: string): Map<string, string> {
  const have = new Map<string, string>()
  for (const line of stdout.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line)
    if (m) have.set(m[2]!, m[1]!)
  }
  return have
}

/** Of `files`, the paths whose hash in `have` (parseHashes) is not the wanted one; missing counts as different. */
export function differingIn(have: ReadonlyMap<string, string>, files: readonly { path: string; sha256: string }[]): string[] {
  return files.filter((f) => have.get(f.path) !== f.sha256).map((f) => f.path)
}

/** The paths whose sha256 on the node differs from the wanted one (missing counts as different). */
export async function differing(runner: Runner, files: readonly { path: string; sha256: string }[]): Promise<string[]> {
  if (files.length === 0) return []
  const r = await runner.run(hashCommand(files.map((f) => f.path)), { nothrow: true })
  return differingIn(parseHashes(r.stdout), files)
}

export function differingFiles(runner: Runner, files: readonly WantedFile[]): Promise<string[]> {
  return differing(runner, files.map((f) => ({ path: f.path, sha256: sha256(f.content) })))
}

/** Writes the files that differ (batched: one round trip for small files); returns their paths. */
export async function writeFiles(runner: Runner, files: readonly WantedFile[]): Promise<string[]> {
  const changed = await differingFiles(runner, files)
  await runner.writeFiles(files.filter((x) => changed.includes(x.path)))
  return changed
}

/** Small host files travel inline with the batch; larger ones stream through upload. */
const INLINE_MAX = 48 * 1024

/** Uploads the host files that differ; returns their paths. */
export async function uploadFiles(runner: Runner, files: readonly LocalFile[]): Promise<string[]> {
  const changed = new Set(await differing(runner, files))
  const todo = files.filter((x) => changed.has(x.path))
  const small = todo.filter((f) => statSync(f.local).size <= INLINE_MAX)
  await runner.writeFiles(small.map((f) => ({ path: f.path, content: readFileSync(f.local), mode: f.mode })))
  for (const f of todo.filter((x) => !small.includes(x))) await runner.upload(f.local, f.path, f.sha256, { mode: f.mode })
  // Inline content is not re-verified by the transfer: check what landed against the pins.
  const wrong = await differing(runner, small)
  if (wrong.length) throw new Error(`files differ from their sha256 after writing: ${wrong.join(', ')}`)
  return [...changed]
}
