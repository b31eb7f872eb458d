// `kubelab upgrade`: the cluster moves to the config's kubernetes.version. The version-skew policy
// (skew.ts) is checked against what the cluster really runs before anything changes; then the
// control-plane node is converged first (artifacts:upload swaps the binaries and invalidates the
// stamps of the services that run them, so each service step restarts its component), then each
// worker in turn: cordon, drain, converge that node's steps, wait Ready at the new version, uncordon.

import { PreflightError } from '../errors.ts'
import { converge } from '../converge/runner.ts'
import { STEPS } from '../steps/index.ts'
import { remember } from './allocations.ts'
import { withDrained } from './drain.ts'
import { apiserverVersion, convergeContext, liveKube, nodeInfos, type Cluster, type Kube } from './session.ts'
import { checkSkew, type SkewVerdict } from './skew.ts'

export interface UpgradePlan {
  target: string
  apiserver: string
  nodes: { name: string; role: string; from: string; to: string }[]
  verdict: SkewVerdict
}

/** The dry run: what runs now (from the live cluster) -> the config's version, and the verdict. */
export async function upgradePlan(c: Cluster, kube: Kube): Promise<UpgradePlan> {
  const [api, infos] = await Promise.all([apiserverVersion(kube), nodeInfos(kube)])
  const target = c.config.kubernetes.version
  const kubelets = Object.fromEntries(infos.map((n) => [n.name, n.version]))
  return {
    target,
    apiserver: api,
    nodes: c.config.nodes.map((n) => ({ name: n.name, role: n.role, from: kubelets[n.name] ?? 'not joined', to: target })),
    verdict: checkSkew({ apiserver: api, kubelets }, target),
  }
}

export function formatUpgradePlan(p: UpgradePlan): string {
  const width = Math.max(...p.nodes.map((n) => n.name.length))
  const lines = [`Upgrade to ${p.target} (kube-apiserver runs ${p.apiserver}):`,
    ...p.nodes.map((n) => `  ${n.name.padEnd(width)}  ${n.from} -> ${n.to}${n.from === n.to ? '  (unchanged)' : ''}`),
    p.verdict.upToDate ? 'skew: ok, nothing to upgrade'
      : p.verdict.ok ? 'skew: ok (control plane first, then workers one at a time: cordon, drain, upgrade, Ready, uncordon)'
        : `skew: refused\n${p.verdict.problems.map((x) => `  - ${x}`).join('\n')}`]
  return lines.join('\n')
}

export interface UpgradeResult {
  plan: UpgradePlan
  upgraded: string[]
}

export async function upgradeCluster(c: Cluster): Promise<UpgradeResult> {
  const { config, progress } = c
  const machines = await c.provider.list()
  const kube = await liveKube(c, machines)
  if (!kube) throw new PreflightError('the cluster', [{ name: 'control plane', ok: false, detail: `cluster ${config.name} has no running control plane`, fix: 'npx kubelab up' }])
  try {
    const plan = await upgradePlan(c, kube)
    if (!plan.verdict.ok) {
      const subject = (p: string) => /kubelet on (\S+)/.exec(p)?.[0] ?? (/^target/.test(p) ? 'target' : 'control plane')
      throw new PreflightError(`the version-skew policy (cluster ${config.name} -> ${plan.target})`, plan.verdict.problems.map((p) => ({
        name: subject(p), ok: false, detail: p,
        fix: `set kubernetes.version to ${plan.apiserver} (what runs) or at most one minor newer; kubelab plan shows the verdict`,
      })))
    }
    if (plan.verdict.upToDate) {
      progress.info(`every node already runs ${plan.target}: nothing to upgrade`)
      remember(c.stateDir, config, { version: true })
      return { plan, upgraded: [] }
    }
    progress.info(formatUpgradePlan(plan))
    // Recorded before anything changes: after an interrupted upgrade `up` keeps refusing to converge
    // (in parallel) a version other than the target, and `upgrade` resumes where it stopped.
    remember(c.stateDir, config, { version: true })
    const { ctx, close } = await convergeContext(c, machines)
    const upgraded: string[] = []
    try {
      // Control plane first (its node drained too, like kubeadm), then workers in config order.
      const order = [...config.nodes].sort((a, b) => Number(a.role === 'worker') - Number(b.role === 'worker'))
      for (const node of order) {
        const from = plan.nodes.find((n) => n.name === node.name)?.from
        const cpBehind = node.role === 'control-plane' && plan.apiserver !== plan.target
        if (from === plan.target && !cpBehind) continue
        await progress.step(`Upgrading ${node.name} (${from} -> ${plan.target})`, () =>
          withDrained(kube, 'upgrade', node.name, () => converge(ctx, STEPS, { only: [node.name] }), { version: plan.target }))
        upgraded.push(node.name)
      }
    } finally {
      close()
    }
    remember(c.stateDir, config, { version: true })
    return { plan, upgraded }
  } finally {
    kube.close()
  }
}
