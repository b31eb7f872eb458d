// A benchmark whose `up` failed keeps what explains it: the run's logs bundle (kubelab writes one
// under the cluster's state when a step fails) is copied out of the state before `down` removes
// it, and the path is printed; a finished benchmark keeps nothing.

import { cpSync, existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** Copies `<stateDir>/<cluster>/logs` to a new folder under the temp dir and says where. */
export function keepLogs(stateDir: string, cluster: string): void {
  const logs = path.join(stateDir, cluster, 'logs')
  if (!existsSync(logs)) return
  const kept = mkdtempSync(path.join(tmpdir(), `kubelab-bench-${cluster}-logs-`))
  cpSync(logs, kept, { recursive: true })
  console.error(`bench: up failed; its logs bundle is kept in ${kept}`)
}
