// No import circles in scripts/ (madge, the same check CI and reviewers run), and the layout's
// one-way rules: steps/ only holds steps; the converge core and node/ never import commands or steps.
import test from 'ava'
import madge from 'madge'
import path from 'node:path'
import { ROOT } from '../helpers/paths.ts'

const graph = madge(path.join(ROOT, 'scripts'), { fileExtensions: ['ts'], detectiveOptions: { ts: { skipTypeImports: false } } })

test('scripts/ has no import circle', async (t) => {
  const circles = (await graph).circular()
  t.deepEqual(circles, [], circles.map((c) => c.join(' > ')).join('\n'))
})

test('the converge core and node/ import no command and no step; lib/ imports no command', async (t) => {
  const deps = (await graph).obj()
  const bad = Object.entries(deps).flatMap(([file, imports]) => imports.filter((i) =>
    (file.startsWith('lib/') && i.startsWith('commands/'))
    || ((file.startsWith('lib/converge/') || file.startsWith('lib/node/')) && i.startsWith('lib/steps/'))).map((i) => `${file} -> ${i}`))
  t.deepEqual(bad, [])
})

test('steps/ holds steps only: every module but index.ts is imported by steps/index.ts', async (t) => {
  const deps = (await graph).obj()
  const listed = new Set(deps['lib/steps/index.ts'] ?? [])
  const files = Object.keys(deps).filter((f) => f.startsWith('lib/steps/') && f !== 'lib/steps/index.ts')
  t.true(files.length > 10)
  t.deepEqual(files.filter((f) => !listed.has(f)), [])
})
