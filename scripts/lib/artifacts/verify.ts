// Verifying a cached file's sha256 on use, fast on a warm cache. The digest of each file is kept
// in `verified/KEY.json` (KEY = sha256 of the file's path) with the file's identity: device, inode,
// size, mtime and ctime (nanoseconds). While the identity is unchanged the kept digest stands;
// any write, replacement or `touch` changes the ctime (which no user can set back), so the file
// is hashed again. A digest that differs from the expected one is an ERR_ARTIFACT naming the file.

import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { ArtifactError } from '../errors.ts'
import { sha256File, writeJsonAtomic } from './cache.ts'

interface Identity {
  readonly dev: string
  readonly ino: string
  readonly size: string
  readonly mtimeNs: string
  readonly ctimeNs: string
}

interface Verified {
  readonly file: string
  readonly identity: Identity
  readonly sha256: string
}

function recordPath(cache: string, file: string): string {
  return path.join(cache, 'verified', `${createHash('sha256').update(path.resolve(file)).digest('hex')}.json`)
}

async function identityOf(file: string): Promise<Identity | undefined> {
  try {
    const s = await stat(file, { bigint: true })
    if (!s.isFile()) return undefined
    return { dev: String(s.dev), ino: String(s.ino), size: String(s.size), mtimeNs: String(s.mtimeNs), ctimeNs: String(s.ctimeNs) }
  } catch {
    return undefined
  }
}

const same = (a: Identity, b: Identity) =>
  a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs

async function readRecord(cache: string, file: string): Promise<Verified | undefined> {
  try {
    const r = JSON.parse(await readFile(recordPath(cache, file), 'utf8')) as Verified
    return r.file === path.resolve(file) && typeof r.sha256 === 'string' && r.identity ? r : undefined
  } catch {
    return undefined // no record, or a damaged one: the file is hashed again, which is always safe
  }
}

/**
 * The file's sha256: the kept digest while its identity is unchanged, else hashed now (and kept).
 * undefined when the file is not there.
 */
export async function digestOf(cache: string, file: string): Promise<string | undefined> {
  const before = await identityOf(file)
  if (!before) return undefined
  const kept = await readRecord(cache, file)
  if (kept && same(kept.identity, before)) return kept.sha256
  const { sha256 } = await sha256File(file)
  const after = await identityOf(file)
  // Changed while we read it: report what we read, keep nothing.
  if (after && same(before, after)) await writeJsonAtomic(recordPath(cache, file), { file: path.resolve(file), identity: before, sha256 } satisfies Verified)
  return sha256
}

/** Records a digest just computed from the bytes written (a fresh download, extraction or build), so the next use need not hash. */
export async function rememberDigest(cache: string, file: string, sha256: string): Promise<void> {
  const identity = await identityOf(file)
  if (identity) await writeJsonAtomic(recordPath(cache, file), { file: path.resolve(file), identity, sha256 } satisfies Verified)
}

/**
 * Checks the file holds `expected`; throws ERR_ARTIFACT naming the file and both digests when not.
 * Returns false when the file is missing (the caller fetches or builds it).
 */
export async function verifyCached(cache: string, file: string, expected: string, what: string): Promise<boolean> {
  const actual = await digestOf(cache, file)
  if (actual === undefined) return false
  if (actual !== expected) {
    throw new ArtifactError(
      `sha256 mismatch for ${what}: the cached file ${file} was changed\n  expected ${expected}\n  actual   ${actual}`,
      { file, expected, actual },
      { hint: `do not run it; find out who changed it, then remove ${file} so kubelab fetches or builds it again` },
    )
  }
  return true
}
