// One contender process for the lock race test (test/integration/races.test.ts):
//   node --import tsx lock-contender.ts LOCK DIR ROUNDS
// Prints "ready", then per round waits for DIR/go-R (which holds a start time), spins to that
// time, tries the lock without waiting and prints "R got" (holding it until DIR/end-R exists) or
// "R refused".
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { LockedError } from '../../scripts/lib/errors.ts'
import { withFileLock } from '../../scripts/lib/providers/common/lock.ts'

const [lock, dir, rounds] = process.argv.slice(2) as [string, string, string]
const waitFor = async (file: string) => { while (!existsSync(file)) await sleep(5) }

process.stdout.write('ready\n')
for (let r = 0; r < Number(rounds); r++) {
  const go = path.join(dir, `go-${r}`)
  const end = path.join(dir, `end-${r}`)
  await waitFor(go)
  const at = Number(readFileSync(go, 'utf8'))
  while (Date.now() < at) { /* spin: every contender starts at the same moment */ }
  try {
    await withFileLock(lock, { wait: false, what: `contender ${process.pid}` }, async () => {
      process.stdout.write(`${r} got\n`)
      await waitFor(end)
    })
  } catch (err) {
    process.stdout.write(err instanceof LockedError ? `${r} refused\n` : `${r} error ${(err as Error).message}\n`)
  }
  await waitFor(end)
}
