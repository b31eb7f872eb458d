// Paths tests share: the repo root, fixtures, and the CLI entry.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const FIXTURES = path.join(ROOT, 'test/fixtures')
export const CLI = path.join(ROOT, 'scripts/bin/kubelab.mjs')
