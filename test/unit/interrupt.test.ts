// The interrupt handlers with an injected exit: cleanups newest first (the lock, registered first,
// last), an async cleanup bounded by the budget, a forgotten cleanup not run, a second signal exits
// at once without waiting for cleanups (the CLI as a process: test/integration/interrupt.test.ts).
import test from 'ava'
import { installInterruptHandlers, onInterrupt, runCleanups } from '../../scripts/lib/host/interrupt.ts'

test.serial('runCleanups: newest first, forgotten ones skipped, a hanging one bounded', async (t) => {
  const ran: string[] = []
  onInterrupt(() => { ran.push('lock') })
  const forget = onInterrupt(() => { ran.push('forgotten') })
  onInterrupt(() => new Promise<void>(() => { ran.push('hangs') }))
  onInterrupt(() => { ran.push('scratch'); throw new Error('a failing cleanup stops no other') })
  forget()
  const t0 = Date.now()
  await runCleanups(300)
  t.deepEqual(ran, ['scratch', 'hangs', 'lock'])
  t.true(Date.now() - t0 < 2_000)
  await runCleanups(300)
  t.is(ran.length, 3, 'each cleanup runs once')
})

test.serial('SIGINT runs the cleanups, then exits 130; a second SIGINT exits at once', async (t) => {
  const exits: number[] = []
  let err = ''
  const remove = installInterruptHandlers({ stderr: { write: (s: string) => { err += s } }, exit: (c) => { exits.push(c) } })
  t.teardown(remove)
  let release!: () => void
  onInterrupt(() => new Promise<void>((resolve) => { release = resolve }))
  process.emit('SIGINT')
  await new Promise((r) => setTimeout(r, 50))
  t.deepEqual(exits, [], 'waits for the cleanup')
  t.regex(err, /interrupted \(SIGINT\): cleaning up/)
  process.emit('SIGINT')
  t.deepEqual(exits, [130], 'the second signal forces')
  t.regex(err, /SIGINT again: stopping now/)
  release()
  await new Promise((r) => setTimeout(r, 50))
  t.deepEqual(exits, [130, 130])
})
