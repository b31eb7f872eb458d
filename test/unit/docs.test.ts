// docs/architecture.md is the map of the code: every source file must appear in it (by its path,
// or by a folder/glob row such as `templates/systemd/*.service`).
import test from 'ava'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from '../helpers/paths.ts'

function files(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((f) => {
    const rel = path.join(dir, f)
    return statSync(path.join(ROOT, rel)).isDirectory() ? files(rel) : [rel]
  })
}

test('docs/architecture.md names every file under scripts/, templates/ and test/ (fixtures aside)', (t) => {
  const doc = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8')
  const rows = [...doc.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)
  const covered = (f: string) => rows.some((r) => {
    if (r === f) return true
    if (r.endsWith('/') && f.startsWith(r)) return true
    if (r.includes('*')) return new RegExp(`^${r.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`).test(f)
    return false
  })
  const missing = ['scripts', 'templates', 'test'].flatMap(files).filter((f) => !f.startsWith('test/fixtures/') && !covered(f))
  t.deepEqual(missing, [])
})
