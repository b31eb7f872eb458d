#!/usr/bin/env node
// `npm pack` / `npm publish` (prepack): dist/kubelab.mjs, the CLI as one JavaScript file, so the
// installed package runs without TypeScript, tsx or esbuild (scripts/bin/kubelab.mjs picks it
// where the package has no TypeScript sources). Prints its size and the time it took.
import { build } from 'esbuild'
import { mkdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { bundleOptions } from './bundle-options.mjs'

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)))
const out = path.join(root, 'dist', 'kubelab.mjs')
const started = Date.now()
mkdirSync(path.dirname(out), { recursive: true })
await build({ ...bundleOptions({ entry: path.join(root, 'scripts', 'kubelab.ts') }), outfile: out, logLevel: 'warning', legalComments: 'linked' })
console.error(`dist/kubelab.mjs: ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB in ${Date.now() - started} ms`)
