// host/parsed-yaml.ts: a text is parsed once per (kind, text); a parse that must not be kept is redone.
import test from 'ava'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { parsedOnce } from '../../scripts/lib/host/parsed-yaml.ts'

test('parsedOnce: parsed once and read back equal; another kind or text parses again; errors are not kept', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelab-parsed-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let parses = 0
  const yaml = (text: string) => (parses++, { value: parse(text) as unknown, keep: true })
  const text = 'a: [1, 2, {b: "x"}]\nc: null\n'
  const first = parsedOnce('k', text, yaml, dir)
  t.deepEqual(parsedOnce('k', text, yaml, dir), first)
  t.is(parses, 1)
  t.deepEqual(first, { a: [1, 2, { b: 'x' }], c: null })
  parsedOnce('other', text, yaml, dir)
  parsedOnce('k', `${text}d: 1\n`, yaml, dir)
  t.is(parses, 3)
  t.is(readdirSync(dir).length, 3)
  const bad = (s: string) => (parses++, { value: s.length, keep: false })
  parsedOnce('bad', text, bad, dir)
  parsedOnce('bad', text, bad, dir)
  t.is(parses, 5)
  // A cache file that is not JSON any more: parsed again.
  for (const f of readdirSync(dir)) writeFileSync(path.join(dir, f), '{')
  t.deepEqual(parsedOnce('k', text, yaml, dir), first)
})
