// Races between real processes. The cluster lock: 20 contenders (test/helpers/lock-contender.ts)
// start at the same moment against a stale lock (or none), round after round; exactly one proceeds
// each time and no claim or temp file is left. Builds: three build.sh runs of one component at once
// all succeed into one output. Bounded: every wait has a deadline, children are killed by PID.
import test from 'ava'
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { BUILD_SCRIPT } from '../../scripts/lib/artifacts/build.ts'
import { spawnTracked, until } from '../helpers/child.ts'
import { tempDir } from '../helpers/files.ts'
import { ROOT } from '../helpers/paths.ts'

const CONTENDERS = 20
const ROUNDS = 9

/** A PID that no process has now: a short-lived child's, after it exited. */
function deadPid(): number {
  return spawnSync('true').pid!
}

test('stale cluster lock, 20 contenders at once, 9 rounds: exactly one proceeds each round', async (t) => {
  t.timeout(180_000)
  const dir = await tempDir(t, 'kubelab-lock-race-')
  const lock = path.join(dir, 'state', 'c.lock')
  mkdirSync(path.dirname(lock))
  const children = Array.from({ length: CONTENDERS }, () => spawnTracked(t, process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/lock-contender.ts'), lock, dir, String(ROUNDS)], { cwd: ROOT }))
  const lines = () => children.map((c) => c.stdout().split('\n').slice(0, -1)) // whole lines only
  await until('every contender ready', () => lines().every((l) => l.includes('ready')), 120_000)
  const winners: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    // What a crashed kubelab leaves: a lock whose PID is gone (with a nonce, or as older versions
    // wrote it); every third round starts with no lock at all.
    if (r % 3 !== 2) {
      writeFileSync(path.join(dir, 'stale.tmp'), JSON.stringify({ pid: deadPid(), what: 'kubelab up (crashed)', ...(r % 3 ? {} : { nonce: `dead-${r}` }) }))
      renameSync(path.join(dir, 'stale.tmp'), lock)
    }
    writeFileSync(path.join(dir, 'go.tmp'), String(Date.now() + 200))
    renameSync(path.join(dir, 'go.tmp'), path.join(dir, `go-${r}`))
    const answers = () => lines().map((l) => l.find((x) => x.startsWith(`${r} `)))
    await until(`round ${r} answers`, () => answers().every(Boolean), 60_000)
    const got = answers().filter((a) => a === `${r} got`).length
    const errors = answers().filter((a) => a?.includes('error'))
    t.deepEqual(errors, [], `round ${r}`)
    winners.push(got)
    writeFileSync(path.join(dir, `end-${r}`), '')
    await until(`round ${r} lock released`, () => !existsSync(lock), 30_000)
  }
  t.deepEqual(winners, Array(ROUNDS).fill(1), 'processes holding the lock, per round')
  t.deepEqual(await Promise.all(children.map((c) => c.exited)), Array(CONTENDERS).fill(0))
  t.deepEqual(readdirSync(path.dirname(lock)), [], 'no lock, claim or temp file left')
})

test('three builds of one component at once (build.sh pause): all succeed, one output, no partial dir left', async (t) => {
  t.timeout(300_000)
  if (spawnSync('go', ['version']).status !== 0) {
    t.log('skipped: no go on PATH')
    t.pass()
    return
  }
  const dir = await tempDir(t, 'kubelab-build-race-')
  const out = path.join(dir, 'build', 'pause-race-amd64')
  const env = { ...process.env, GOPROXY: 'off', GOFLAGS: '-mod=mod' }
  const runs = await Promise.all([0, 1, 2].map(() => new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile('bash', [BUILD_SCRIPT, 'pause', 'race', out], { env, timeout: 240_000 }, (err, _stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }))
  })))
  t.deepEqual(runs.map((r) => r.code), [0, 0, 0], runs.map((r) => r.stderr).join('\n'))
  t.true(existsSync(path.join(out, 'pause')))
  t.deepEqual(readdirSync(path.dirname(out)), ['pause-race-amd64'], 'no .partial or .old folder left')
})
