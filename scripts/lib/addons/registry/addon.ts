// addons.registry (default off, as in kind's local-registry recipe): the distribution registry as a
// systemd service on the control-plane node (step.ts), pushed to from the host at 127.0.0.1:PORT.
// No objects in the cluster: its state is whether the registry answers on the host's forward.

import type { Addon } from '../types.ts'
import { addonsRegistry } from './step.ts'

export const registry: Addon = {
  name: 'registry',
  summary: 'a local registry: push to 127.0.0.1:PORT from the host, pods pull localhost:PORT/NAME:TAG',
  upstream: 'github.com/distribution/distribution/v3 (cmd/registry)',
  steps: [addonsRegistry],
  checks: [],
  async state(config) {
    const port = config.addons.registry.port
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(3_000) })
      return { applied: true, ready: r.ok, detail: `127.0.0.1:${port}/v2/ answered ${r.status}` }
    } catch (err) {
      return { applied: false, ready: false, detail: `nothing answers on 127.0.0.1:${port} (${err instanceof Error ? err.message : String(err)})` }
    }
  },
}
