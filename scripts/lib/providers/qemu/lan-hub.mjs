#!/usr/bin/env node
// The private network between rootless QEMU VMs: an Ethernet hub on a UNIX socket. Each VM
// connects with `-netdev stream,addr.type=unix,addr.path=SOCKET`; frames arrive as a 4-byte
// big-endian length and the frame, and every frame is copied to every other VM. Nothing leaves
// the socket: no address on the host is involved. Plain JavaScript so it starts in milliseconds.
//   node lan-hub.mjs SOCKET
import { rmSync } from 'node:fs'
import net from 'node:net'

const socketPath = process.argv[2]
if (!socketPath) {
  console.error('usage: lan-hub.mjs SOCKET')
  process.exit(2)
}
rmSync(socketPath, { force: true })
const ports = new Set()

const server = net.createServer((sock) => {
  ports.add(sock)
  let buf = Buffer.alloc(0)
  sock.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0)
      if (buf.length < 4 + len) break
      const frame = buf.subarray(0, 4 + len)
      for (const other of ports) if (other !== sock && !other.destroyed) other.write(frame)
      buf = buf.subarray(4 + len)
    }
  })
  const drop = () => ports.delete(sock)
  sock.on('close', drop)
  sock.on('error', drop)
})
server.listen(socketPath)
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { server.close(); rmSync(socketPath, { force: true }); process.exit(0) })
