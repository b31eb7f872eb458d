#!/usr/bin/env node
// The `kubelab` bin: registers tsx (so the TypeScript sources run as they are) and starts the CLI.
import { register } from 'tsx/esm/api'

register()
await import('../kubelab.ts')
