// A small tar implementation (ustar, plus pax/GNU long names when reading): deterministic writing
// (the caller's order, uid/gid 0, mtime 0 unless given) for bundles and OCI images, and streaming
// reading for upstream .tar.gz assets and bundles. Written here rather than depending on the `tar`
// package, which is only a transitive dev dependency of this repo.

import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'

const BLOCK = 512

export interface TarEntry {
  /** Path inside the archive, `/`-separated, no leading `/`. Directories may end with `/`. */
  name: string
  type?: 'file' | 'dir' | 'symlink'
  /** A symlink's target (type 'symlink'; at most 100 bytes). */
  linkname?: string
  /** Permission bits; default 0o644 for files, 0o755 for directories, 0o777 for symlinks. */
  mode?: number
  /** Seconds since the epoch; default 0. */
  mtime?: number
  /** The content: a buffer, or a file on disk streamed when the entry is written. */
  content?: Buffer
  source?: string
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0'
}

function header(fields: { name: string; mode: number; size: number; mtime: number; type: string; prefix?: string; linkname?: string }): Buffer {
  const b = Buffer.alloc(BLOCK)
  b.write(fields.name, 0, 100, 'utf8')
  b.write(octal(fields.mode, 8), 100, 8, 'ascii')
  b.write(octal(0, 8), 108, 8, 'ascii')
  b.write(octal(0, 8), 116, 8, 'ascii')
  b.write(octal(fields.size, 12), 124, 12, 'ascii')
  b.write(octal(fields.mtime, 12), 136, 12, 'ascii')
  b.write('        ', 148, 8, 'ascii')
  b.write(fields.type, 156, 1, 'ascii')
  if (fields.linkname) b.write(fields.linkname, 157, 100, 'utf8')
  b.write('ustar\0', 257, 6, 'ascii')
  b.write('00', 263, 2, 'ascii')
  b.write('root', 265, 32, 'ascii')
  b.write('root', 297, 32, 'ascii')
  if (fields.prefix) b.write(fields.prefix, 345, 155, 'utf8')
  let sum = 0
  for (const byte of b) sum += byte
  b.write(octal(sum, 7) + ' ', 148, 8, 'ascii')
  return b
}

function padding(size: number): Buffer {
  const rest = size % BLOCK
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest)
}

/** Header blocks for one entry: plain ustar, ustar with prefix, or a pax `path` record first. */
function headersFor(name: string, mode: number, size: number, mtime: number, type: string, linkname?: string): Buffer[] {
  if (Buffer.byteLength(name) <= 100) return [header({ name, mode, size, mtime, type, linkname })]
  const cut = name.lastIndexOf('/', 155)
  if (cut > 0 && Buffer.byteLength(name.slice(0, cut)) <= 155 && Buffer.byteLength(name.slice(cut + 1)) <= 100) {
    return [header({ name: name.slice(cut + 1), prefix: name.slice(0, cut), mode, size, mtime, type, linkname })]
  }
  const body = 'path=' + name + '\n'
  let len = Buffer.byteLength(body) + 3
  while (`${len} ${body}`.length !== len) len = Buffer.byteLength(`${len} ${body}`)
  const record = Buffer.from(`${len} ${body}`)
  return [
    header({ name: 'PaxHeader', mode: 0o644, size: record.length, mtime, type: 'x' }),
    record,
    padding(record.length),
    header({ name: name.slice(-100), mode, size, mtime, type, linkname }),
  ]
}

/** The tar stream of `entries`, in the given order, ending with the two zero blocks. */
export async function* tarChunks(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): AsyncGenerator<Buffer> {
  for await (const e of entries) {
    const isDir = e.type === 'dir'
    const name = isDir && !e.name.endsWith('/') ? `${e.name}/` : e.name
    const mode = e.mode ?? (isDir ? 0o755 : 0o644)
    const mtime = e.mtime ?? 0
    if (isDir) {
      yield* headersFor(name, mode, 0, mtime, '5')
      continue
    }
    if (e.type === 'symlink') {
      if (!e.linkname || Buffer.byteLength(e.linkname) > 100) throw new Error(`tar entry ${e.name}: symlink target missing or longer than 100 bytes`)
      yield* headersFor(name, e.mode ?? 0o777, 0, mtime, '2', e.linkname)
      continue
    }
    if (e.content !== undefined) {
      yield* headersFor(name, mode, e.content.length, mtime, '0')
      yield e.content
      yield padding(e.content.length)
      continue
    }
    if (e.source === undefined) throw new Error(`tar entry ${e.name}: neither content nor source`)
    const size = (await stat(e.source)).size
    yield* headersFor(name, mode, size, mtime, '0')
    let sent = 0
    for await (const chunk of createReadStream(e.source)) {
      sent += (chunk as Buffer).length
      yield chunk as Buffer
    }
    if (sent !== size) throw new Error(`tar entry ${e.name}: ${e.source} changed while being read`)
    yield padding(size)
  }
  yield Buffer.alloc(BLOCK * 2)
}

/** A Readable of the tar stream, for stream.pipeline. */
export function tarStream(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): Readable {
  return Readable.from(tarChunks(entries), { objectMode: false })
}

// ---- reading ---------------------------------------------------------------------------------

export interface TarHeader {
  name: string
  type: 'file' | 'dir' | 'symlink' | 'other'
  mode: number
  size: number
  linkname: string
}

/** Exact-size reads over an async iterator of chunks. */
class ChunkReader {
  private buffered: Buffer[] = []
  private length = 0
  private done = false
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.done) {
      const r = await this.it.next()
      if (r.done) { this.done = true; break }
      const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value)
      this.buffered.push(chunk)
      this.length += chunk.length
    }
    return this.length >= n
  }

  private take(n: number): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered)
    const out = all.subarray(0, n)
    const rest = all.subarray(n)
    this.buffered = rest.length ? [rest] : []
    this.length = rest.length
    return out
  }

  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) return undefined
    return this.take(n)
  }

  /** Yields exactly n bytes in pieces, failing on a premature end. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n
    while (left > 0) {
      if (this.length === 0 && !(await this.fill(1))) throw new Error('tar: unexpected end of archive')
      const piece = this.take(Math.min(left, this.length))
      left -= piece.length
      yield piece
    }
  }
}

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len)
  const z = s.indexOf(0)
  return s.subarray(0, z === -1 ? len : z).toString('utf8')
}

function num(b: Buffer, start: number, len: number): number {
  const s = b.subarray(start, start + len)
  if (s[0]! & 0x80) { // base-256 (GNU) for big sizes
    let v = 0
    for (let i = 1; i < s.length; i++) v = v * 256 + s[i]!
    return v
  }
  const t = cstr(b, start, len).trim()
  return t === '' ? 0 : parseInt(t, 8)
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {}
  let at = 0
  while (at < body.length) {
    const sp = body.indexOf(0x20, at)
    if (sp === -1) break
    const len = Number(body.subarray(at, sp).toString('ascii'))
    if (!len) break
    const kv = body.subarray(sp + 1, at + len - 1).toString('utf8')
    const eq = kv.indexOf('=')
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1)
    at += len
  }
  return out
}

/**
 * Reads a tar (gzip-compressed or not, detected by magic bytes) and calls `onEntry` for every
 * entry with its header and content; the callback must consume `content` fully or not at all
 * (unconsumed content is skipped). Names have leading `./` removed.
 */
export async function readTar(
  input: Readable,
  onEntry: (h: TarHeader, content: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const source = await maybeGunzip(input)
  const reader = new ChunkReader(source[Symbol.asyncIterator]() as AsyncIterator<Buffer>)
  let longName: string | undefined
  let pax: Record<string, string> = {}
  for (;;) {
    const block = await reader.read(BLOCK)
    if (!block) throw new Error('tar: unexpected end of archive (no end marker)')
    if (block.every((x) => x === 0)) return
    let sum = 0
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!
    if (sum !== num(block, 148, 8)) throw new Error('tar: bad header checksum (not a tar file, or corrupt)')
    const typeflag = String.fromCharCode(block[156]!)
    const size = num(block, 124, 12)
    const padded = size + ((BLOCK - (size % BLOCK)) % BLOCK)
    if (typeflag === 'L' || typeflag === 'x' || typeflag === 'g') {
      const body = await reader.read(padded)
      if (!body) throw new Error('tar: unexpected end of archive')
      if (typeflag === 'L') longName = body.subarray(0, size).toString('utf8').replace(/\0.*$/s, '')
      else if (typeflag === 'x') pax = parsePax(body.subarray(0, size))
      continue
    }
    const prefix = block.subarray(257, 262).toString('ascii') === 'ustar' ? cstr(block, 345, 155) : ''
    let name = pax.path ?? longName ?? (prefix ? `${prefix}/${cstr(block, 0, 100)}` : cstr(block, 0, 100))
    name = name.replace(/^(\.\/)+/, '').replace(/^\//, '')
    const realSize = pax.size !== undefined ? Number(pax.size) : size
    const realPadded = realSize + ((BLOCK - (realSize % BLOCK)) % BLOCK)
    longName = undefined
    pax = {}
    const type = typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file'
      : typeflag === '5' ? 'dir' : typeflag === '2' ? 'symlink' : 'other'
    let read = 0
    let started = false
    const content: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => {
        if (started) throw new Error('tar: entry content can be read once')
        started = true
        return (async function* () {
          for await (const piece of reader.stream(realSize)) {
            read += piece.length
            yield piece
          }
        })()
      },
    }
    await onEntry({ name, type, mode: num(block, 100, 8), size: realSize, linkname: cstr(block, 157, 100) }, content)
    for await (const _ of reader.stream(realPadded - read)) { /* the rest and the padding */ }
  }
}

async function maybeGunzip(input: Readable): Promise<AsyncIterable<Buffer>> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const first = await it.next()
  const head = first.done ? Buffer.alloc(0) : (first.value as Buffer)
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length) yield head
    for (;;) {
      const r = await it.next()
      if (r.done) return
      yield r.value as Buffer
    }
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return Readable.from(replay()).pipe(createGunzip())
  return replay()
}
