#!/usr/bin/env -S node --
// The `kubelab` bin: registers tsx (so the TypeScript sources run as they are) and starts the CLI.
// `node --` before the script: Node 20 reads `--env-file` anywhere on its command line up to a
// `--`, even after the script name, and exits 9 when the file is missing; kubelab's own
// `--env-file FILE` must reach kubelab. Run it by hand the same way: `node -- scripts/bin/kubelab.mjs`.
import { register } from 'tsx/esm/api'

register()
await import('../kubelab.ts')
