// The host side of LoadBalancer Services: one process per cluster, started by `up` and ended by
// `down` (lib/services/forwards.ts), plain JavaScript on Node's own modules so it runs as it is.
//
//   node forwarder.mjs STATE_DIR            the forwarder, on the host (its settings in
//                                            STATE_DIR/services/forwarder.json)
//   node forwarder.mjs --relay SOCK A-B     the relay, inside the lab network namespace
//
// Every 2 s the forwarder reads the cluster's Services (the pinned kubectl, the host kubeconfig)
// and keeps one listener on 127.0.0.1 per TCP port of every LoadBalancer Service that has an
// address: on the Service's own port when it is free, else on a free one (kept while the Service
// lives). A connection there is handed to the relay over a UNIX socket with a first line
// "ADDRESS PORT"; the relay, started by the forwarder with `ip netns exec`, dials that address in
// the lab network (only addresses of the LoadBalancer pool) and joins the two. So nothing on the
// host's own namespace ever dials a lab address. What is forwarded is written to
// STATE_DIR/services/services.json on every change, for `kubelab status`.

import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const POLL_MS = 2_000

/** @param {string} text @returns {number | undefined} */
function ipv4(text) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (!m) return undefined
  const parts = m.slice(1).map(Number)
  return parts.some((p) => p > 255) ? undefined : parts.reduce((a, p) => a * 256 + p, 0)
}

/** `A-B` as numbers. @param {string} text */
export function parsePool(text) {
  const [a, b] = text.split('-')
  const first = ipv4(a ?? ''); const last = ipv4(b ?? '')
  if (first === undefined || last === undefined || last < first) throw new Error(`not an address range A-B: ${text}`)
  return { first, last }
}

/**
 * What should be forwarded: one entry per TCP port of each LoadBalancer Service with an address
 * in the pool (the first such address).
 * @param {any[]} services items of `kubectl get svc -A -o json`
 * @param {{ first: number, last: number }} pool
 * @returns {{ key: string, namespace: string, name: string, port: number, address: string }[]}
 */
export function desiredForwards(services, pool) {
  const out = []
  for (const s of services) {
    if (s?.spec?.type !== 'LoadBalancer') continue
    const address = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).find((ip) => {
      const n = ipv4(ip ?? '')
      return n !== undefined && n >= pool.first && n <= pool.last
    })
    if (!address) continue
    for (const p of s.spec.ports ?? []) {
      if ((p.protocol ?? 'TCP') !== 'TCP') continue
      const { namespace, name } = s.metadata
      out.push({ key: `${namespace}/${name}:${p.port}`, namespace, name, port: p.port, address })
    }
  }
  return out.sort((x, y) => x.key.localeCompare(y.key))
}

/** Listens on 127.0.0.1:port (0 = any free one); resolves undefined when it is taken. */
function listen(server, port) {
  return new Promise((resolve) => {
    const fail = () => resolve(undefined)
    server.once('error', fail)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', fail)
      resolve(server.address().port)
    })
  })
}

/** Joins two sockets; either end closing or failing closes both. */
function join(a, b) {
  const end = () => { a.destroy(); b.destroy() }
  a.on('error', end); b.on('error', end); a.on('close', end); b.on('close', end)
  a.pipe(b); b.pipe(a)
}

function kubectlGet(settings) {
  return new Promise((resolve, reject) => {
    execFile(settings.kubectl, ['get', 'services', '--all-namespaces', '-o', 'json', '--request-timeout=10s'],
      { env: { ...process.env, KUBECONFIG: settings.kubeconfig }, timeout: 20_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => (err ? reject(new Error((stderr || err.message).trim().split('\n').pop())) : resolve(JSON.parse(stdout).items ?? [])))
  })
}

function writeStatus(file, status) {
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644 })
  renameSync(tmp, file)
}

async function forwarder(stateDir) {
  const dir = path.join(stateDir, 'services')
  const settings = JSON.parse(readFileSync(path.join(dir, 'forwarder.json'), 'utf8'))
  const pool = parsePool(settings.pool)
  const sock = path.join(dir, 'relay.sock')
  const statusFile = path.join(dir, 'services.json')
  const relay = spawn('ip', ['netns', 'exec', settings.netns, process.execPath, fileURLToPath(import.meta.url), '--relay', sock, settings.pool],
    { stdio: ['ignore', 'inherit', 'inherit'] })
  relay.on('exit', (code, signal) => { console.error(`relay ended (${signal ?? code}); forwarder stops`); process.exit(1) })
  /** @type {Map<string, { server: net.Server, connections: Set<net.Socket>, hostPort: number, entry: any }>} */
  const open = new Map()
  let last = ''
  const stop = () => { relay.kill('SIGTERM'); for (const f of open.values()) f.server.close(); process.exit(0) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  for (;;) {
    // The cluster is gone (down removed its state): so is the forwarder.
    if (!existsSync(path.join(dir, 'forwarder.json'))) stop()
    let error
    try {
      const want = desiredForwards(await kubectlGet(settings), pool)
      const keys = new Set(want.map((w) => w.key))
      for (const [key, f] of open) {
        if (keys.has(key) && f.entry.address === want.find((w) => w.key === key).address) continue
        // The Service (or its address) is gone: so are its port and the connections through it.
        f.server.close()
        for (const c of f.connections) c.destroy()
        open.delete(key)
      }
      for (const w of want) {
        if (open.has(w.key)) continue
        const connections = new Set()
        const server = net.createServer((c) => {
          connections.add(c)
          c.on('close', () => connections.delete(c))
          const u = net.connect(sock)
          u.write(`${w.address} ${w.port}\n`)
          join(c, u)
        })
        const hostPort = (await listen(server, w.port)) ?? (await listen(server, 0))
        if (hostPort === undefined) { error = `no port on 127.0.0.1 for ${w.key}`; continue }
        open.set(w.key, { server, connections, hostPort, entry: w })
      }
    } catch (err) {
      error = `reading the Services: ${err.message}` // forwards stay as they were
    }
    const services = [...open.values()].map(({ entry, hostPort }) => ({
      namespace: entry.namespace, name: entry.name, port: entry.port, address: entry.address, hostAddress: `127.0.0.1:${hostPort}`,
    }))
    const text = JSON.stringify({ services, error })
    if (text !== last) {
      writeStatus(statusFile, { pid: process.pid, updatedAt: new Date().toISOString(), services, ...(error ? { error } : {}) })
      last = text
    }
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/** Inside the lab namespace: dials "ADDRESS PORT" (pool addresses only) for each connection. */
function relay(sock, poolText) {
  const pool = parsePool(poolText)
  const parent = process.ppid
  rmSync(sock, { force: true })
  const server = net.createServer((u) => {
    let head = Buffer.alloc(0)
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk])
      const nl = head.indexOf(10)
      if (nl < 0) { if (head.length > 64) u.destroy(); return }
      u.off('data', onData)
      u.pause()
      const [address, portText] = head.subarray(0, nl).toString('latin1').split(' ')
      const n = ipv4(address ?? ''); const port = Number(portText)
      if (n === undefined || n < pool.first || n > pool.last || !(port > 0 && port < 65536)) { u.destroy(); return }
      const t = net.connect(port, address, () => {
        if (head.length > nl + 1) t.write(head.subarray(nl + 1))
        join(u, t)
        u.resume()
      })
      t.on('error', () => u.destroy())
    }
    u.on('data', onData)
    u.on('error', () => u.destroy())
  })
  server.listen(sock, () => console.error(`relay listening on ${sock} for ${poolText}`))
  // Ends with the forwarder, even one killed without a word.
  setInterval(() => { if (process.ppid !== parent) process.exit(0) }, 2_000).unref()
  process.on('SIGTERM', () => process.exit(0))
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [a, b, c] = process.argv.slice(2)
  if (a === '--relay' && b && c) relay(b, c)
  else if (a) forwarder(a).catch((err) => { console.error(err); process.exit(1) })
  else { console.error('usage: forwarder.mjs STATE_DIR | --relay SOCK A-B'); process.exit(2) }
}
