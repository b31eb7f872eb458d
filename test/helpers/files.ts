// Large test files without keeping them in memory: `mb` MiB of random-ish data (one random MiB,
// varied per block so no two blocks are equal), written streaming; returns its sha256.
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'

export async function randomFile(path: string, mb: number): Promise<string> {
  const hash = createHash('sha256')
  const out = createWriteStream(path)
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
