// Large YAML texts that are the same on every run (the versions lock, upstream manifests) parsed
// once: the result is kept as JSON in the host cache (parsed/SHA256.json, by the text's sha256 and
// what parsed it), and JSON.parse reads it back far faster than the YAML parser reads the text.
// A text with errors is never kept, so its errors are reported on every run; an unreadable or
// unwritable cache only costs the parse.

import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { cacheDir } from './cache-dir.ts'
import { writeFileAtomic } from './files.ts'

/** What a parse gives: the value, and whether it may be kept (false when the text had errors). */
export interface Parsed<T> {
  readonly value: T
  readonly keep: boolean
}

/**
 * `parse(text)`, or the value it gave for the same text before. `kind` names the parse (its
 * options and post-processing) so two parses of one text with different results never meet.
 */
export function parsedOnce<T>(kind: string, text: string, parse: (text: string) => Parsed<T>, dir = path.join(cacheDir(), 'parsed')): T {
  const file = path.join(dir, `${createHash('sha256').update(`${kind}\0${text}`).digest('hex')}.json`)
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T
  } catch { /* not parsed yet, or unreadable: parse */ }
  const { value, keep } = parse(text)
  // Kept only in a cache that exists: a read-only command (`plan` on a fresh host) makes none.
  if (keep && existsSync(path.dirname(dir))) {
    try {
      writeFileAtomic(file, JSON.stringify(value), { mode: 0o644 })
    } catch { /* a read-only cache: parse again next time */ }
  }
  return value
}
