// kill -9 in the middle of state writes, then run again: a process rewriting state.json in a loop
// (test/helpers/state-writer.ts) is killed at random moments; each time the file is a whole
// version (never truncated), and the next write sweeps the temp file the killed writer left.
import test from 'ava'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { StateStore } from '../../scripts/lib/providers/common/state.ts'
import { spawnTracked, until } from '../helpers/child.ts'
import { tempDir } from '../helpers/files.ts'
import { ROOT } from '../helpers/paths.ts'

const ROUNDS = 6

test('state.json survives kill -9 during writes; leftovers go with the next write', async (t) => {
  t.timeout(180_000)
  const dir = await tempDir(t, 'kubelab-state-crash-')
  const store = new StateStore(dir)
  let leftovers = 0
  for (let r = 0; r < ROUNDS; r++) {
    const writer = spawnTracked(t, process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/state-writer.ts'), dir], { cwd: ROOT })
    await until('the writer started', () => writer.stdout().includes('writing'), 60_000, writer.stderr)
    await sleep(300 + Math.floor(Math.random() * 700))
    process.kill(writer.child.pid!, 'SIGKILL')
    t.is(await writer.exited, 'SIGKILL')
    const s = store.read('crash', 'nspawn') // throws ERR_STATE on a truncated file
    t.is(s.cluster, 'crash')
    t.true(Object.keys(s.machines).length >= 1000, `round ${r}`)
    leftovers += readdirSync(dir).filter((f) => f.endsWith('.tmp')).length
    // Run again: the next write leaves exactly the state file.
    store.update('crash', 'nspawn', (x) => { x.pids = { ...x.pids, after: r } })
    t.deepEqual(readdirSync(dir), ['state.json'], `round ${r}`)
  }
  t.log(`${leftovers} of ${ROUNDS} kills left a temp file behind (swept by the next write)`)
})
