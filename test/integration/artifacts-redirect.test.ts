// The downloader never follows a redirect from https down to http: an https server on 127.0.0.1
// (a self-signed certificate this test trusts) redirects to a plain http one.

import test from 'ava'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fetchToFile, HttpClient } from '../../scripts/lib/artifacts/fetch.ts'
import { ArtifactError } from '../../scripts/lib/errors.ts'
import { startHttpServer } from '../helpers/http-server.ts'

interface Tls { key: Buffer; cert: Buffer }

async function selfSigned(dir: string): Promise<Tls> {
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  return { key: await readFile(key), cert: await readFile(cert) }
}

/** An https server on 127.0.0.1 that redirects every path to `target(path)`, or serves `body` at /direct. */
async function redirector(tls: Tls, target: (p: string) => string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = https.createServer(tls, (req, res) => {
    if (req.url === '/direct') return void res.writeHead(200, { 'content-length': 2 }).end('ok')
    res.writeHead(302, { location: target(req.url ?? '/') }).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

test('https -> http redirects are refused, naming both URLs; https -> https still works', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubelab-redirect-'))
  const plain = await startHttpServer()
  const servers: { close: () => Promise<void> }[] = [plain]
  t.teardown(async () => {
    for (const s of servers) await s.close()
    await rm(dir, { recursive: true, force: true })
  })
  plain.files.set('/kubectl', Buffer.from('tampered-kubectl'))
  plain.files.set('/kubectl.sha256', Buffer.from('0'.repeat(64)))
  const tls = await selfSigned(dir)
  const down = await redirector(tls, (p) => `${plain.url}${p}`)
  servers.push(down)
  const http = new HttpClient({ ca: tls.cert, attempts: 1 })

  t.is(await http.text(`${down.url}/direct`), 'ok', 'the test CA is trusted')
  const up = await redirector(tls, () => `${down.url}/direct`)
  servers.push(up)
  t.is(await http.text(`${up.url}/somewhere`), 'ok', 'https -> https is followed')

  const text = await t.throwsAsync(http.text(`${down.url}/kubectl.sha256`), { instanceOf: ArtifactError, code: 'ERR_ARTIFACT' })
  t.regex(text!.message, /refusing the redirect from https:\/\/127\.0\.0\.1:\d+\/kubectl\.sha256 to http:\/\/127\.0\.0\.1:\d+\/kubectl\.sha256/)
  const file = await t.throwsAsync(fetchToFile(http, `${down.url}/kubectl`, path.join(dir, 'kubectl.partial')), { instanceOf: ArtifactError })
  t.regex(file!.message, /refusing the redirect .* to http:\/\/127\.0\.0\.1:\d+\/kubectl/)
  t.deepEqual(plain.requests, [], 'nothing was asked of the http server')
})
