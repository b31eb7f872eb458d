// A tiny HTTP server on 127.0.0.1 playing upstream or a mirror: serves a map of paths to bytes,
// counts and records requests, honours Range, and can be told to drop the connection mid-body.
// Always closed by withHttpServer, even when the test fails.

import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  path: string
  range?: string
}

export interface TestServer {
  /** http://127.0.0.1:PORT */
  url: string
  files: Map<string, Buffer>
  requests: RecordedRequest[]
  /** Paths whose next N GETs send the headers and half the body, then destroy the socket. */
  dropMidBody: Map<string, number>
  /** Ignore Range headers (always 200 with the whole body). */
  noRange: boolean
}

export async function startHttpServer(): Promise<TestServer & { close: () => Promise<void> }> {
  const state: TestServer = { url: '', files: new Map(), requests: [], dropMidBody: new Map(), noRange: false }
  const server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    state.requests.push({ path: p, ...(req.headers.range ? { range: req.headers.range } : {}) })
    const body = state.files.get(p)
    if (!body) {
      res.writeHead(404).end('not found')
      return
    }
    let start = 0
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
    if (m && !state.noRange) {
      start = Number(m[1])
      if (start >= body.length) {
        res.writeHead(416).end()
        return
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'accept-ranges': 'bytes' })
    } else {
      res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' })
    }
    const drops = state.dropMidBody.get(p) ?? 0
    if (drops > 0) {
      state.dropMidBody.set(p, drops - 1)
      const half = start + Math.floor((body.length - start) / 2)
      res.write(body.subarray(start, half), () => setTimeout(() => res.socket?.destroy(), 20))
      return
    }
    res.end(body.subarray(start))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(state, {
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  })
}

export async function withHttpServer<T>(fn: (s: TestServer) => Promise<T>): Promise<T> {
  const s = await startHttpServer()
  try {
    return await fn(s)
  } finally {
    await s.close()
  }
}
