// Fetching bytes: HTTP(S) GET with redirects (never from https down to http), retries with backoff, resume of an interrupted body
// (Range) and streaming sha256, into a partial file in the cache. Also reads local files (mirror
// directories, file:// URLs) the same way. Every request goes through one HttpClient, which
// counts requests so callers (tests, the bench) can prove a warm cache made none.

import { createHash, type Hash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rm, stat } from 'node:fs/promises'
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { ArtifactError } from '../errors.ts'

export interface FetchProgress {
  (done: number, total: number | undefined): void
}

/** Network failures that are worth retrying, as opposed to a 404 or a checksum mismatch. */
export class TransientError extends Error {}

/** A network-level failure: DNS, connection refused, unreachable, timeout. */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code ?? ((err as { cause?: { code?: string } })?.cause?.code)
  return ['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET'].includes(code ?? '')
}

export interface HttpClientOptions {
  /** Attempts per URL, including the first (default 4). */
  attempts?: number
  /** First backoff in ms, doubled each time (default 300). */
  backoffMs?: number
  /** Socket idle timeout in ms (default 30 s). */
  timeoutMs?: number
  /** CA certificates to trust for https instead of the system's (tests: a self-signed local server). */
  ca?: string | Buffer
}

export class HttpClient {
  /** Requests started (every attempt and redirect counts). */
  requests = 0
  readonly attempts: number
  readonly backoffMs: number
  readonly timeoutMs: number
  readonly ca: string | Buffer | undefined

  constructor(options: HttpClientOptions = {}) {
    this.attempts = options.attempts ?? 4
    this.backoffMs = options.backoffMs ?? 300
    this.timeoutMs = options.timeoutMs ?? 30_000
    this.ca = options.ca
  }

  /**
   * One GET, following up to 5 redirects; resolves with the final response (any status). A
   * redirect from https to plain http is refused (the bytes would come unauthenticated, and a
   * checksum file fetched that way proves nothing).
   */
  async get(url: string, headers: Record<string, string> = {}): Promise<{ res: IncomingMessage; url: string }> {
    let current = url
    for (let hop = 0; hop <= 5; hop++) {
      const res = await this.once(current, headers)
      const loc = res.headers.location
      if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && loc) {
        res.resume()
        const next = new URL(loc, current)
        if (new URL(current).protocol === 'https:' && next.protocol !== 'https:') {
          throw new ArtifactError(`refusing the redirect from ${current} to ${next.toString()}: https must not be downgraded to ${next.protocol.replace(/:$/, '')}`, { url: current }, {
            hint: 'the server (or someone between) sends an https request to plain http; use a URL that stays on https',
          })
        }
        current = next.toString()
        continue
      }
      return { res, url: current }
    }
    throw new ArtifactError(`too many redirects from ${url}`, { url })
  }

  private once(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
    this.requests++
    const u = new URL(url)
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined
    if (!mod) return Promise.reject(new ArtifactError(`unsupported URL scheme in ${url}`, { url }))
    return new Promise((resolve, reject) => {
      const req = mod.get(u, { headers: { 'user-agent': 'kubelab', ...headers }, agent: false, timeout: this.timeoutMs, ...(this.ca && u.protocol === 'https:' ? { ca: this.ca } : {}) }, resolve)
      req.on('timeout', () => req.destroy(Object.assign(new Error(`timeout after ${this.timeoutMs}ms: ${url}`), { code: 'ETIMEDOUT' })))
      req.on('error', reject)
    })
  }

  /** GET a small text document (checksum files), with retries. */
  async text(url: string): Promise<string> {
    return this.retry(url, async () => {
      const { res } = await this.get(url)
      const status = res.statusCode ?? 0
      if (status !== 200) {
        res.resume()
        if (status >= 500 || status === 429) throw new TransientError(`HTTP ${status} from ${url}`)
        throw new ArtifactError(`HTTP ${status} from ${url}`, { url })
      }
      const chunks: Buffer[] = []
      for await (const c of res) chunks.push(c as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    })
  }

  async retry<T>(what: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    let last: unknown
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        return await fn(attempt)
      } catch (err) {
        last = err
        const retriable = err instanceof TransientError || (!(err instanceof ArtifactError) && isNetworkish(err))
        if (!retriable || attempt === this.attempts) break
        await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)))
      }
    }
    if (last instanceof ArtifactError) throw last
    throw new ArtifactError(`cannot fetch ${what} after ${this.attempts} attempts: ${(last as Error)?.message ?? last}`, { url: what }, { cause: last })
  }
}

function isNetworkish(err: unknown): boolean {
  if (isUnreachable(err)) return true
  const code = (err as { code?: string })?.code ?? ''
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'EPIPE' || code === 'ECONNABORTED'
    || /aborted|socket hang up|premature/i.test((err as Error)?.message ?? '')
}

function hashing(hash: Hash, onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk)
      onBytes(chunk.length)
      cb(null, chunk)
    },
  })
}

async function hashExisting(file: string, hash: Hash): Promise<number> {
  let n = 0
  for await (const c of createReadStream(file)) {
    hash.update(c as Buffer)
    n += (c as Buffer).length
  }
  return n
}

export interface FetchResult {
  sha256: string
  size: number
  /** True when an earlier partial body was continued with a Range request. */
  resumed: boolean
}

/**
 * Streams `source` (http(s) URL, file:// URL or local path) into `partial`, hashing as it goes.
 * An existing `partial` is resumed with a Range request (and restarted when the server ignores
 * Range). Retries network failures with backoff. The caller verifies the sha256 and moves the file.
 */
export async function fetchToFile(client: HttpClient, source: string, partial: string, onProgress?: FetchProgress): Promise<FetchResult> {
  await mkdir(path.dirname(partial), { recursive: true })
  if (!/^https?:\/\//.test(source)) {
    const file = source.startsWith('file://') ? fileURLToPath(source) : source
    const hash = createHash('sha256')
    let size = 0
    try {
      await pipeline(createReadStream(file), hashing(hash, (n) => { size += n }), createWriteStream(partial))
    } catch (err) {
      await rm(partial, { force: true })
      throw new ArtifactError(`cannot read ${file}: ${(err as Error).message}`, { url: file }, { cause: err })
    }
    return { sha256: hash.digest('hex'), size, resumed: false }
  }
  let resumed = false
  return client.retry(source, async () => {
    const have = (await stat(partial).catch(() => undefined))?.size ?? 0
    const { res } = await client.get(source, have > 0 ? { range: `bytes=${have}-` } : {})
    const status = res.statusCode ?? 0
    const hash = createHash('sha256')
    let start = 0
    if (status === 206 && have > 0 && String(res.headers['content-range'] ?? '').startsWith(`bytes ${have}-`)) {
      start = await hashExisting(partial, hash)
      resumed = true
    } else if (status === 200) {
      start = 0
    } else {
      res.resume()
      if (status === 416) { // our partial is longer than the file: start over
        await rm(partial, { force: true })
        throw new TransientError(`HTTP 416 from ${source}`)
      }
      if (status >= 500 || status === 429) throw new TransientError(`HTTP ${status} from ${source}`)
      throw new ArtifactError(`HTTP ${status} from ${source}`, { url: source }, status === 404 ? { hint: 'the lock (or the mirror) names a file this server does not have' } : undefined)
    }
    const length = Number(res.headers['content-length'] ?? NaN)
    const total = Number.isFinite(length) ? start + length : undefined
    let done = start
    onProgress?.(done, total)
    await pipeline(
      res,
      hashing(hash, (n) => { done += n; onProgress?.(done, total) }),
      createWriteStream(partial, { flags: start > 0 ? 'a' : 'w' }),
    )
    if (total !== undefined && done !== total) throw new TransientError(`short body from ${source}: ${done} of ${total} bytes`)
    return { sha256: hash.digest('hex'), size: done, resumed }
  })
}

/** A one-line download bar for TTYs: `  kubelet  12.3/57.1 MB  21%`. Returns the callback and a finisher. */
export function progressBar(label: string, write: (s: string) => void): { update: FetchProgress; end: () => void } {
  let last = 0
  const mb = (n: number) => (n / 1e6).toFixed(1)
  return {
    update: (done, total) => {
      const now = Date.now()
      if (now - last < 100 && done !== total) return
      last = now
      const pct = total ? `  ${Math.floor((done / total) * 100)}%` : ''
      write(`\r\x1b[2K  ↓ ${label}  ${mb(done)}${total ? `/${mb(total)}` : ''} MB${pct}`)
    },
    end: () => write('\r\x1b[2K'),
  }
}
