// `kubelab upgrade --os`: the nodes' Debian/Ubuntu updates, one node at a time with the same
// cordon/drain discipline — only where the node reaches its package source. The check is bounded
// (apt-get update with short timeouts, no retries, under `timeout`), so nodes without a route out
// (nspawn lab nodes) are reported as skipped within seconds instead of hanging.

import { PreflightError } from '../errors.ts'
import { runnerFor } from '../remote/machine.ts'
import type { Runner } from '../remote/types.ts'
import { withDrained } from './drain.ts'
import { liveKube, type Cluster } from './session.ts'

export const SOURCE_CHECK_S = 20

export type OsOutcome =
  | { node: string; result: 'upgraded'; packages: number; rebootRequired: boolean }
  | { node: string; result: 'skipped'; reason: string }

const APT = ['-o', 'Acquire::Retries=0', '-o', 'Acquire::http::Timeout=5', '-o', 'Acquire::https::Timeout=5', '-o', 'Dpkg::Use-Pty=0']

/** undefined when the node's package source answered; else why not (one line). */
export async function packageSourceProblem(runner: Runner): Promise<string | undefined> {
  if (!(await runner.test`command -v apt-get`)) return 'no apt-get on the node'
  const r = await runner.$({ nothrow: true, timeoutMs: (SOURCE_CHECK_S + 5) * 1000 })`timeout -k 2 ${SOURCE_CHECK_S} apt-get update --error-on=any ${APT}`
  if (r.ok) return undefined
  if (r.exitCode === 124) return `apt-get update did not finish within ${SOURCE_CHECK_S}s`
  return `apt-get update: ${aptFailure(`${r.stdout}\n${r.stderr}`) ?? `exit code ${r.exitCode}`}`
}

/** The cause of a failed `apt-get update`, in a few words (pure). */
export function aptFailure(output: string): string | undefined {
  const causes: [RegExp, string][] = [
    [/Temporary failure resolving|Could not resolve/, 'name resolution failed'],
    [/Network is unreachable|No route to host/, 'no route to the package source'],
    [/Connection timed out|Connection failed|timed out/i, 'connection timed out'],
    [/Connection refused/, 'connection refused'],
    [/NO_PUBKEY|not signed|signature/i, 'repository signature not accepted'],
  ]
  for (const [re, cause] of causes) if (re.test(output)) return cause
  return output.split('\n').map((l) => l.trim()).filter((l) => /^E:/.test(l)).pop()
}

export async function upgradeOs(c: Cluster, o: { onOutcome?: (x: OsOutcome) => void } = {}): Promise<OsOutcome[]> {
  const { config, progress } = c
  const machines = await c.provider.list()
  const kube = await liveKube(c, machines)
  if (!kube) throw new PreflightError('the cluster', [{ name: 'control plane', ok: false, detail: `cluster ${config.name} has no running control plane`, fix: 'npx kubelab up' }])
  const out: OsOutcome[] = []
  try {
    const order = [...config.nodes].sort((a, b) => Number(a.role === 'worker') - Number(b.role === 'worker'))
    for (const node of order) {
      const m = machines.find((x) => x.name === node.name && x.state === 'running')
      if (!m) { out.push({ node: node.name, result: 'skipped', reason: `${node.name} is not running` }); continue }
      const runner = await runnerFor(m, c.stateDir, { config, progress })
      try {
        const problem = await progress.step(`Checking ${node.name}'s package source`, () => packageSourceProblem(runner), (p) => (p ? 'unreachable' : 'reachable'))
        if (problem) {
          const x: OsOutcome = { node: node.name, result: 'skipped', reason: `no package source reachable from ${node.name} (${problem})` }
          progress.info(`skipped: ${x.reason}`)
          out.push(x); o.onOutcome?.(x)
          continue
        }
        const x = await progress.step(`Upgrading ${node.name}'s OS packages (cordon, drain, apt-get upgrade, uncordon)`, () => withDrained(kube, 'upgrade:os', node.name, async () => {
          const r = await runner.$({ timeoutMs: 1_800_000 })`DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a apt-get ${APT} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade -y`
          const packages = (/^(\d+) upgraded/m.exec(r.stdout)?.[1] ?? '0')
          // Services whose libraries were replaced: restart the ones kubelab runs (a no-op for static binaries).
          await runner.$({ nothrow: true })`systemctl daemon-reload; systemctl try-restart containerd kubelet`
          const rebootRequired = await runner.test`test -e /var/run/reboot-required`
          return { node: node.name, result: 'upgraded' as const, packages: Number(packages), rebootRequired }
        }), (r) => `${r.packages} packages${r.rebootRequired ? ', reboot required' : ''}`)
        out.push(x); o.onOutcome?.(x)
      } finally {
        runner.close()
      }
    }
  } finally {
    kube.close()
  }
  return out
}
