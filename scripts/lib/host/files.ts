// Files kubelab keeps on this host (cluster state, pinned host keys, kubeconfigs, cache indexes):
// every write goes through `writeFileAtomic` so a crash, a full disk or a kill -9 leaves either the
// old file or the new one, never a truncated mix; every JSON state file is read through
// `readJsonFile`, which names the file when it is damaged instead of starting over from nothing.
// A temp file a killed writer left is removed by the next write of the same file.

import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import path from 'node:path'
import { StateError } from '../errors.ts'

export interface WriteOptions {
  /** The file's mode, set on the new file and so also over an existing one (default 0600). */
  mode?: number
}

/**
 * Writes `data` to `file` atomically: a temp file in the same folder (created with the mode, then
 * chmod against the umask), written and fsynced, renamed over the target, the folder fsynced. A
 * symlinked target (a kubeconfig kept in dotfiles) is written where it points, the link kept.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, o: WriteOptions = {}): void {
  const mode = o.mode ?? 0o600
  const target = existsSync(file) ? realpathSync(file) : file
  const dir = path.dirname(target)
  mkdirSync(dir, { recursive: true })
  const prefix = `.${path.basename(target)}.`
  const tmp = tempPathFor(target)
  try {
    const fd = openSync(tmp, 'wx', mode)
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    chmodSync(tmp, mode) // the umask may have narrowed it
    renameSync(tmp, target)
  } catch (err) {
    try { unlinkSync(tmp) } catch { /* not created, or already renamed */ }
    throw err
  }
  syncDir(dir)
  sweepDeadTemps(dir, prefix)
}

/** Whether a process with this PID exists (EPERM: it does, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Temp files of this target left by a writer that was killed (kill -9, power loss) go with the next write. */
function sweepDeadTemps(dir: string, prefix: string): void {
  let names: string[]
  try { names = readdirSync(dir) } catch { return }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue
    const pid = Number(name.slice(prefix.length).split('.')[0])
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid)) {
      try { unlinkSync(path.join(dir, name)) } catch { /* another writer swept it */ }
    }
  }
}

/**
 * A temp path beside `target`, unique to this process and call: what is written there is renamed
 * over `target` when complete, so concurrent writers (two builds of one image) never share one.
 */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
}

function syncDir(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch { /* some filesystems cannot fsync a folder; the rename is still atomic */ } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** `writeFileAtomic` of a JSON document (2-space indent, trailing newline). */
export function writeJsonFile(file: string, data: unknown, o: WriteOptions = {}): void {
  writeFileAtomic(file, `${JSON.stringify(data, null, 2)}\n`, o)
}

/**
 * A JSON state file: undefined when it does not exist, the document when it parses to an object,
 * else a StateError naming the file and `what` it holds (never an empty default in its place).
 */
export function readJsonFile<T>(file: string, what: string): T | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new StateError(file, what, (err as Error).message, { cause: err })
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new StateError(file, what, text.trim() === '' ? 'the file is empty' : `not valid JSON (${(err as Error).message})`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new StateError(file, what, 'not a JSON object')
  return doc as T
}
