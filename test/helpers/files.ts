// Test files: temporary folders, tar contents, and large files without keeping them in memory: `mb` MiB of random-ish data (one random MiB,
// varied per block so no two blocks are equal), written streaming; returns its sha256.
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { readTar, type TarHeader } from '../../scripts/lib/artifacts/tar.ts'

export async function randomFile(file: string, mb: number): Promise<string> {
  const hash = createHash('sha256')
  const out = createWriteStream(file)
  const block = randomBytes(1 << 20)
  for (let i = 0; i < mb; i++) {
    block.writeUInt32LE(i, 0)
    block.writeUInt32LE(Math.floor(Math.random() * 2 ** 32), (i * 4099) % (block.length - 4))
    hash.update(block)
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()))
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())))
  return hash.digest('hex')
}

/** A temporary folder removed when the test ends. */
export async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }, prefix = 'kubelab-test-'): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), prefix))
  t.teardown(() => rm(d, { recursive: true, force: true }))
  return d
}

/** Every entry of a tar stream: header and content, by name. */
export async function readTarEntries(source: Readable): Promise<Map<string, { h: TarHeader; body: Buffer }>> {
  const out = new Map<string, { h: TarHeader; body: Buffer }>()
  await readTar(source, async (h, content) => {
    const chunks: Buffer[] = []
    for await (const c of content) chunks.push(c)
    out.set(h.name, { h, body: Buffer.concat(chunks) })
  })
  return out
}
