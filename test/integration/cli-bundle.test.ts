// The `kubelab` bin runs the CLI from an esbuild bundle of scripts/ (node_modules/.cache/kubelab/):
// the bundle answers like the sources run through tsx, finds the package's own files (the
// versions lock, templates) from its cache folder, and a changed source file gets a new bundle.
import test from 'ava'
import { readdirSync, readFileSync, statSync, utimesSync } from 'node:fs'
import path from 'node:path'
import { kubelab } from '../helpers/cli.ts'
import { ROOT } from '../helpers/paths.ts'

const CACHE = path.join(ROOT, 'node_modules', '.cache', 'kubelab')
const bundles = () => readdirSync(CACHE).filter((f) => /^cli-[0-9a-f]{16}\.mjs$/.test(f))

test.serial('the bundle and the sources give the same answers', async (t) => {
  for (const args of [['config', 'schema'], ['artifacts', 'list', '--json'], ['plan', '--json']]) {
    const [bundled, sources] = await Promise.all([kubelab(args), kubelab(args, { env: { KUBELAB_BUNDLE: 'off' } })])
    t.is(bundled.code, sources.code, `${args.join(' ')}: ${bundled.stderr}`)
    t.is(bundled.stdout, sources.stdout, args.join(' '))
    t.true(bundled.stdout.length > 100, args.join(' '))
  }
  const newest = bundles().map((f) => path.join(CACHE, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!
  t.true(readFileSync(newest, 'utf8').includes(JSON.stringify(ROOT)), 'the bundle names the package root it was built from')
})

test.serial('a changed source file gets a new bundle', async (t) => {
  await kubelab(['--help'])
  const before = new Set(bundles())
  const file = path.join(ROOT, 'scripts', 'lib', 'versions.ts')
  const st = statSync(file)
  // A new change time (what the fingerprint reads besides size and mtime); the content stays.
  utimesSync(file, st.atime, new Date(st.mtimeMs + 1000))
  t.teardown(() => utimesSync(file, st.atime, st.mtime))
  const r = await kubelab(['--help'])
  t.is(r.code, 0, r.stderr)
  const added = bundles().filter((f) => !before.has(f))
  t.is(added.length, 1, `new bundles: ${added.join(', ')}`)
})
