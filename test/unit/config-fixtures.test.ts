// Table test over test/fixtures/config: every invalid-*.yaml must report exactly the paths in its
// `# expect:` header, each with file:line:col; every valid-*.yaml must load.
import test from 'ava'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ConfigError } from '../../scripts/lib/errors.ts'
import { loadConfig } from '../../scripts/lib/config/load.ts'
import { FIXTURES } from '../helpers/paths.ts'

const dir = path.join(FIXTURES, 'config')
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()

function header(file: string, key: string): string[] {
  const line = readFileSync(path.join(dir, file), 'utf8').split('\n').find((l) => l.startsWith(`# ${key}:`))
  return line ? line.slice(key.length + 3).split(',').map((s) => s.trim()).filter(Boolean) : []
}

function envOf(file: string): Record<string, string> {
  return Object.fromEntries(header(file, 'env').map((kv) => kv.split('=', 2) as [string, string]))
}

test('the table has at least 15 invalid fixtures and some valid ones', (t) => {
  t.true(files.filter((f) => f.startsWith('invalid-')).length >= 15)
  t.true(files.filter((f) => f.startsWith('valid-')).length >= 3)
})

for (const file of files.filter((f) => f.startsWith('invalid-'))) {
  test(`rejects ${file}`, (t) => {
    const expected = header(file, 'expect')
    t.true(expected.length > 0, 'fixture lacks an # expect: header')
    const err = t.throws(() => loadConfig(path.join(dir, file), { env: envOf(file), display: file }), { instanceOf: ConfigError })
    t.is(err!.code, 'ERR_CONFIG')
    const paths = err!.issues.map((i) => i.path || '(root)')
    t.deepEqual([...new Set(paths)].sort(), [...expected].sort(), err!.issues.map((i) => `${i.path}: ${i.message}`).join('\n'))
    for (const issue of err!.issues) {
      t.is(issue.location.file, file)
      if (file !== 'invalid-empty.yaml') t.true((issue.location.line ?? 0) >= 1, `${issue.path} has no line`)
      t.true(issue.message.length > 5)
    }
  })
}

for (const file of files.filter((f) => f.startsWith('valid-'))) {
  test(`accepts ${file}`, (t) => {
    const { config } = loadConfig(path.join(dir, file), { env: envOf(file) })
    t.true(config.nodes.length >= 1)
  })
}

test('a fixture with three independent problems reports all three, in file order', (t) => {
  const err = t.throws(() => loadConfig(path.join(dir, 'invalid-three-problems.yaml'), { env: {}, display: 'x.yaml' }), { instanceOf: ConfigError })
  t.is(err!.issues.length, 3)
  t.deepEqual(err!.issues.map((i) => [i.path, i.location.line]), [
    ['kubernetes.serviceCIDR', 5],
    ['nodes[1].role', 8],
    ['addons.dns', 11],
  ])
  t.regex(err!.issues[1]!.message, /must be one of control-plane, worker; got "master"/)
})
