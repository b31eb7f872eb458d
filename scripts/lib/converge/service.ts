// A systemd service converged from its files: the unit and its config written (or uploaded) only
// when they differ, enabled, running, healthy, and restarted exactly when one of its inputs changed.
// What it was last started with is stamped on the node (sha256 of every input), so a re-run
// restarts nothing, and a changed certificate restarts every service that uses it.

import { stampOf } from '../node/paths.ts'
import type { Runner } from '../remote/types.ts'
import { differingIn, hashCommand, parseHashes, sha256, uploadFiles, writeFiles, type LocalFile, type WantedFile } from './files.ts'

export interface ServiceSpec {
  /** e.g. `kube-apiserver.service`. */
  readonly unit: string
  readonly files: readonly WantedFile[]
  readonly localFiles?: readonly LocalFile[]
  /** A shell command that exits 0 when the service is healthy. */
  readonly health: string
  /** How long apply waits for health after a (re)start. */
  readonly healthTimeoutS?: number
}

function stamp(spec: ServiceSpec): string {
  const inputs = [...spec.files.map((f) => `${f.path} ${sha256(f.content)}`), ...(spec.localFiles ?? []).map((f) => `${f.path} ${f.sha256}`)].sort()
  return sha256(inputs.join('\n'))
}

const stampPath = (spec: ServiceSpec) => stampOf(spec.unit)

/** serviceConverged's marker line: stamped, enabled, active and healthy. */
const RUNNING = 'kubelab:service-running'

export async function serviceConverged(runner: Runner, spec: ServiceSpec): Promise<boolean> {
  const want = [...spec.files.map((f) => ({ path: f.path, sha256: sha256(f.content) })), ...(spec.localFiles ?? [])]
  // One round trip: the files' hashes, then whether the unit runs what it was stamped with and is
  // healthy (a stopped unit, exit 3, is simply not converged).
  const r = await runner.run([
    want.length > 0 ? hashCommand(want.map((f) => f.path)) : ':',
    `[ "$(cat ${stampPath(spec)} 2>/dev/null)" = ${stamp(spec)} ] && systemctl is-enabled --quiet ${spec.unit} && systemctl is-active --quiet ${spec.unit} && { ${spec.health}; } >/dev/null 2>&1 && echo ${RUNNING}`,
  ].join('\n'), { nothrow: true })
  return r.stdout.split('\n').includes(RUNNING) && differingIn(parseHashes(r.stdout), want).length === 0
}

/** Converges the service; returns whether it was (re)started with new inputs (false: it kept running as it was). */
export async function convergeService(runner: Runner, spec: ServiceSpec): Promise<boolean> {
  const changed = [...await writeFiles(runner, spec.files), ...await uploadFiles(runner, spec.localFiles ?? [])]
  const stamped = await runner.test`[ "$(cat ${stampPath(spec)} 2>/dev/null)" = ${stamp(spec)} ]`
  if (changed.some((p) => p.endsWith('.service') || p.includes('.service.d/'))) await runner.$`systemctl daemon-reload`
  // --no-reload: the reload above already told systemd of a changed unit; `enable` only links it
  // for the next boot (a second reload costs ~80 ms of CPU in PID 1 and its generators per unit).
  await runner.$`systemctl enable --no-reload --quiet ${spec.unit}`
  const restart = changed.length > 0 || !stamped
  if (restart) await runner.$`systemctl restart ${spec.unit}`
  else await runner.$`systemctl start ${spec.unit}`
  await runner.writeFile(stampPath(spec), stamp(spec), 0o644)
  const timeout = spec.healthTimeoutS ?? 60
  const healthy = await runner.testScript(`for i in $(seq ${timeout * 5}); do { ${spec.health}; } >/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1`, { timeoutMs: (timeout + 10) * 1000 })
  if (!healthy) {
    const log = (await runner.$({ nothrow: true })`journalctl -u ${spec.unit} --no-pager -n 25`).stdout
    throw new Error(`${spec.unit} is not healthy ${timeout}s after starting (${spec.health}); last log lines:\n${log}`)
  }
  return restart
}
