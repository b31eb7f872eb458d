// Machine commands: `up` (machines so far), `status`, `ssh NODE [-- CMD]`, `down`, `doctor`.

import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ClusterConfig } from '../lib/config/types.ts'
import { NotImplementedError, PreflightError, UsageError } from '../lib/errors.ts'
import { withFileLock } from '../lib/providers/common/lock.ts'
import { cacheDir as defaultCacheDir } from '../lib/artifacts/cache.ts'
import { defaultStateRoot } from '../lib/providers/common/state.ts'
import { chooseProvider, clusterStateDir, createProvider, probeKvm, type ProviderChoice } from '../lib/providers/index.ts'
import type { Machine, Provider } from '../lib/providers/types.ts'
import { hostKeyStore } from '../lib/remote/machine.ts'
import { resolveArtifacts } from '../lib/artifacts/resolve.ts'
import { ensureSandboxImage } from '../lib/images/sandbox.ts'
import { pkiBundle } from '../lib/pki/bundle.ts'
import { STEPS } from '../lib/steps/index.ts'
import { closeNodes, openNodes } from '../lib/steps/nodes.ts'
import { stepsUntil } from '../lib/steps/pipeline.ts'
import { converge } from '../lib/steps/run.ts'
import { load, printJson, type CommandContext } from './context.ts'

interface Opened {
  config: ClusterConfig
  choice: ProviderChoice
  provider: Provider
  stateDir: string
}

function open(ctx: CommandContext): Opened {
  const { config } = load(ctx)
  const choice = chooseProvider(config.provider.type)
  const stateDir = clusterStateDir(config.name, ctx.env)
  const provider = createProvider(choice, { config, stateDir, cacheDir: defaultCacheDir(ctx.env), progress: ctx.progress })
  return { config, choice, provider, stateDir }
}

/** Serialises `up`/`down` of one cluster: a second one is refused with who holds the lock. */
function clusterLock<T>(ctx: CommandContext, config: ClusterConfig, what: string, fn: () => Promise<T>): Promise<T> {
  return withFileLock(path.join(defaultStateRoot(ctx.env), `${config.name}.lock`), { wait: false, what: `kubelab ${what} (cluster ${config.name})` }, fn)
}

export function machinesTable(machines: readonly Machine[]): string {
  const rows = [['NAME', 'ROLE', 'ADDRESS', 'STATE', 'PROVIDER', 'SSH'],
    ...machines.map((m) => [m.name, m.role, m.address, m.state, m.provider, m.forwards.ssh ? `127.0.0.1:${m.forwards.ssh}` : '-'])]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')
}

async function preflightOrThrow(provider: Provider, target: string): Promise<void> {
  const failed = (await provider.preflight()).filter((c) => !c.ok)
  if (failed.length) throw new PreflightError(target, failed)
}

export async function upCommand(ctx: CommandContext, machinesOnly: boolean): Promise<number> {
  const { config, choice, provider, stateDir } = open(ctx)
  if (ctx.options.until && !STEPS.some((s) => s.id === ctx.options.until)) {
    throw new UsageError(`--until: no step "${ctx.options.until}"; steps: ${STEPS.map((s) => s.id).join(', ')}`)
  }
  const plan = stepsUntil(ctx.options.until)
  const machines = await clusterLock(ctx, config, 'up', async () => {
    ctx.progress.debug(1, `provider: ${choice.type} (${choice.why})`)
    await preflightOrThrow(provider, 'this host')
    const before = new Set((await provider.list()).filter((m) => m.state === 'running').map((m) => m.name))
    const n = config.nodes.length
    const ms = await ctx.progress.step(`Starting ${n} ${choice.type} machine${n === 1 ? '' : 's'}`, () => provider.ensure(config.nodes), (got) => {
      const reused = got.filter((m) => before.has(m.name)).length
      return reused === got.length ? 'all reused, nothing changed' : `${got.length - reused} started, ${reused} reused`
    })
    if (machinesOnly) return ms
    const nodes = await openNodes(config, ms, stateDir, ctx.progress)
    try {
      const artifacts = await ctx.progress.step('Resolving verified binaries', () => resolveArtifacts(config, { progress: ctx.progress }),
        (a) => `${a.length} files`)
      const images = [await ensureSandboxImage(defaultCacheDir(ctx.env), ctx.progress)]
      const cp = config.nodes.find((n) => n.role === 'control-plane')
      const pki = config.controlPlane.mode === 'managed' && cp
        ? (await ctx.progress.step('Issuing the cluster PKI (kept in the cluster state)',
          () => pkiBundle(path.join(stateDir, 'pki'), config, cp, { adminServer: 'https://127.0.0.1:6443', extraSans: ['127.0.0.1'] }),
          (r) => (r.result.changed.length ? `${r.result.changed.length} files written` : 'unchanged'))).bundle
        : undefined
      await converge({ config, nodes, artifacts, images, ...(pki ? { pki } : {}), progress: ctx.progress, stateDir, shared: {} }, plan.steps)
    } finally {
      closeNodes(nodes)
    }
    return ms
  })
  if (!machinesOnly && !plan.complete) {
    throw new NotImplementedError(`up (step ${plan.missing})`,
      `lands with the cluster issue; the steps before it are done: stop there with --until ${plan.steps.at(-1)?.id ?? 'os:prep'}`)
  }
  if (ctx.options.json) printJson(ctx, { cluster: config.name, provider: choice.type, machines })
  else ctx.out(machinesTable(machines))
  return 0
}

/** The machines of the config's cluster as they are now. */
export async function machinesOf(ctx: CommandContext): Promise<Machine[]> {
  return open(ctx).provider.list()
}

export async function statusCommand(ctx: CommandContext): Promise<number> {
  const { config, choice, provider } = open(ctx)
  const machines = await provider.list()
  if (ctx.options.json) printJson(ctx, { cluster: config.name, provider: choice.type, machines })
  else if (machines.length === 0) ctx.progress.info(`cluster "${config.name}" has no machines (run: npx kubelab up)`)
  else ctx.out(machinesTable(machines))
  return 0
}

export async function downCommand(ctx: CommandContext): Promise<number> {
  const { config, choice, provider } = open(ctx)
  await clusterLock(ctx, config, 'down', async () => {
    const n = (await provider.list()).length
    await ctx.progress.step(`Deleting ${n} ${choice.type} machine${n === 1 ? '' : 's'} and local state`, () => provider.destroy())
  })
  return 0
}

export async function sshCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [node, ...command] = args
  if (!node) throw new UsageError('kubelab ssh needs a node name: kubelab ssh NODE [-- CMD]')
  const { config, provider, stateDir } = open(ctx)
  const machines = await provider.list()
  const m = machines.find((x) => x.name === node)
  if (!m) throw new UsageError(`no machine "${node}" in cluster ${config.name}; machines: ${machines.map((x) => x.name).join(', ') || 'none'}`)
  if (m.state !== 'running' || !m.forwards.ssh) throw new UsageError(`machine ${node} is ${m.state}; run: npx kubelab up`)
  const knownHosts = path.join(stateDir, 'ssh', 'known_hosts')
  mkdirSync(path.dirname(knownHosts), { recursive: true })
  writeFileSync(knownHosts, machines.filter((x) => x.ssh.hostPublicKey).map((x) => `${x.name} ${x.ssh.hostPublicKey}\n`).join(''))
  const sshArgs = [
    '-p', String(m.forwards.ssh), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', `HostKeyAlias=${node}`, '-o', 'LogLevel=ERROR',
    ...(m.ssh.privateKeyFile ? ['-i', m.ssh.privateKeyFile, '-o', 'IdentitiesOnly=yes'] : []),
    ...(command.length === 0 ? ['-t'] : []),
    `${m.ssh.user}@127.0.0.1`, ...command,
  ]
  const r = spawnSync('ssh', sshArgs, { stdio: 'inherit' })
  return r.status ?? 1
}

export async function doctorCommand(ctx: CommandContext): Promise<number> {
  const { config } = load(ctx)
  const kvm = probeKvm()
  const choice = chooseProvider(config.provider.type, kvm)
  const report: { provider: ProviderChoice; kvm: typeof kvm; checks: Awaited<ReturnType<Provider['preflight']>> } = { provider: choice, kvm, checks: [] }
  try {
    const provider = createProvider(choice, { config, stateDir: clusterStateDir(config.name, ctx.env), cacheDir: defaultCacheDir(ctx.env), progress: ctx.progress })
    report.checks = await provider.preflight()
  } catch (err) {
    if (!(err instanceof NotImplementedError)) throw err
    report.checks = [{ name: `provider ${choice.type}`, ok: false, detail: 'not implemented yet', fix: 'set provider.type: nspawn' }]
  }
  if (ctx.options.json) {
    printJson(ctx, report)
  } else {
    ctx.out(`provider: ${choice.type} (${choice.why})`)
    for (const c of report.checks) ctx.out(`  ${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}${c.ok || !c.fix ? '' : `\n      fix: ${c.fix}`}`)
  }
  return report.checks.every((c) => c.ok) ? 0 : 1
}

/** Forgets a node's pinned host key (after the machine was re-created on purpose). */
export async function sshResetCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [node] = args
  if (!node) throw new UsageError('kubelab ssh-reset needs a node name: kubelab ssh-reset NODE')
  const { config, stateDir } = open(ctx)
  if (!config.nodes.some((n) => n.name === node)) throw new UsageError(`no node "${node}" in ${ctx.options.config}`)
  const store = hostKeyStore(stateDir)
  const had = await store.get(node)
  if (had) await store.delete(node)
  ctx.progress.info(had ? `forgot the host key of ${node} (${had}); the next connection pins the key it finds` : `no host key was pinned for ${node}`)
  return 0
}
