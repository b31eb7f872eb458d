// Machine commands: `status`, `ssh NODE [-- CMD]`, `ssh-reset NODE`, `down`, `doctor [--fix]`.

import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { cacheDir as defaultCacheDir } from '../lib/artifacts/cache.ts'
import { withClusterLock } from '../lib/cluster.ts'
import type { ClusterConfig } from '../lib/config/types.ts'
import { cacheGaps } from '../lib/converge/inputs.ts'
import { networkSummary, summaryLines } from '../lib/egress/summary.ts'
import { describeWouldMake, installCommand, missingPackages, NotImplementedError, UsageError, type PreflightCheck } from '../lib/errors.ts'
import { buildChecks, buildsOf, installPackages } from '../lib/host/deps.ts'
import { readJsonFile, writeFileAtomic } from '../lib/host/files.ts'
import type { NodeFacts } from '../lib/node/facts.ts'
import { ADMIN_CONF, adminKubectl } from '../lib/node/paths.ts'
import { chooseProvider, clusterStateDir, createProvider, probeKvm } from '../lib/providers/index.ts'
import type { Machine } from '../lib/providers/types.ts'
import { StateStore } from '../lib/providers/common/state.ts'
import { hostKeyStore, runnerFor } from '../lib/remote/machine.ts'
import { readServiceForwards, stopServiceForwards, type ServiceForward } from '../lib/services/forwards.ts'
import { load, openClusterFor, printJson, table, type CommandContext, type FlagDecls, type FlagValues } from './context.ts'

export function machinesTable(machines: readonly Machine[]): string {
  return table([['NAME', 'ROLE', 'ADDRESS', 'STATE', 'PROVIDER', 'SSH'],
    ...machines.map((m) => [m.name, m.role, m.address, m.state, m.provider, m.forwards.ssh ? `127.0.0.1:${m.forwards.ssh}` : '-'])])
}

function servicesTable(services: readonly ServiceForward[]): string {
  return table([['SERVICE', 'PORT', 'LOADBALANCER', 'HOST'], ...services.map((s) => [`${s.namespace}/${s.name}`, String(s.port), s.address, s.hostAddress])])
}

interface NodeStatus {
  name: string
  ready: string
  version: string
  podCIDR: string
  runtime: string
  substrate: string
  /** systemd unit -> active state, as seen on the node. */
  components: Record<string, string>
}

const UNITS = {
  'control-plane': ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'containerd', 'kubelet', 'kube-proxy'],
  worker: ['containerd', 'kubelet', 'kube-proxy'],
} as const

/** Nodes as the cluster and the machines report them: Ready, version, runtime, substrate, units. */
async function nodeStatus(config: ClusterConfig, machines: readonly Machine[], stateDir: string): Promise<NodeStatus[]> {
  const running = machines.filter((m) => m.state === 'running')
  if (running.length === 0) return []
  const factsFile = path.join(stateDir, 'facts.json')
  const facts = readJsonFile<Record<string, NodeFacts>>(factsFile, 'what each node is (its substrate)') ?? {}
  const units = new Map<string, Record<string, string>>()
  let apiNodes: { metadata: { name: string }; status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string }; conditions?: { type: string; status: string; reason?: string }[] } }[] = []
  await Promise.all(running.map(async (m) => {
    const runner = await runnerFor(m, stateDir, { config, connect: { deadlineMs: 10_000 } })
    try {
      // network.policy: the NetworkPolicy enforcer on every node.
      const names = [...UNITS[m.role], ...(config.network.policy && config.controlPlane.mode === 'managed' ? ['kube-router'] : [])]
      const r = await runner.$({ nothrow: true })`systemctl is-active ${names}`
      const states = r.stdout.trim().split('\n')
      units.set(m.name, Object.fromEntries(names.map((u, i) => [u, states[i] ?? 'unknown'])))
      if (m.role === 'control-plane') {
        const k = await runner.$({ nothrow: true })`test -f ${ADMIN_CONF} && ${adminKubectl(['get', 'nodes', '-o', 'json'])}`
        if (k.ok) apiNodes = (JSON.parse(k.stdout) as { items: typeof apiNodes }).items
      }
    } finally {
      runner.close()
    }
  }))
  return config.nodes.filter((n) => machines.some((m) => m.name === n.name)).map((n) => {
    const api = apiNodes.find((a) => a.metadata.name === n.name)
    const ready = api?.status.conditions?.find((c) => c.type === 'Ready')
    const f = facts[n.name]
    return {
      name: n.name,
      ready: !api ? 'not joined' : ready?.status === 'True' ? 'Ready' : `NotReady${ready?.reason ? ` (${ready.reason})` : ''}`,
      version: api?.status.nodeInfo.kubeletVersion ?? '-',
      podCIDR: n.podCIDR,
      runtime: api?.status.nodeInfo.containerRuntimeVersion ?? '-',
      substrate: f ? `${f.virt}, cgroup v${f.cgroupV1 ? 1 : 2}` : '-',
      components: units.get(n.name) ?? {},
    }
  })
}

function nodesTable(nodes: readonly NodeStatus[]): string {
  const rows = [['NODE', 'STATUS', 'VERSION', 'POD-CIDR', 'RUNTIME', 'SUBSTRATE', 'UNITS'], ...nodes.map((n) => {
    const down = Object.entries(n.components).filter(([, st]) => st !== 'active').map(([u, st]) => `${u} ${st}`)
    const unitText = Object.keys(n.components).length === 0 ? '-' : down.length ? down.join(', ') : `all ${Object.keys(n.components).length} active`
    return [n.name, n.ready, n.version, n.podCIDR, n.runtime, n.substrate, unitText]
  })]
  return table(rows)
}

export async function statusCommand(ctx: CommandContext): Promise<number> {
  const { config, choice, provider, stateDir } = openClusterFor(ctx)
  const machines = await provider.list()
  const nodes = await nodeStatus(config, machines, stateDir)
  const network = networkSummary(config, new StateStore(stateDir).read(config.name, choice.type))
  const services = readServiceForwards(stateDir)?.services ?? []
  if (ctx.options.json) printJson(ctx, { cluster: config.name, provider: choice.type, machines, nodes, network, services })
  else if (machines.length === 0) ctx.progress.info(`cluster "${config.name}" has no machines (run: npx kubelab up)`)
  else ctx.out(`${machinesTable(machines)}\n\n${nodesTable(nodes)}\n\n${summaryLines(network).join('\n')}${services.length ? `\n\n${servicesTable(services)}` : ''}`)
  return 0
}

export async function downCommand(ctx: CommandContext): Promise<number> {
  const c = openClusterFor(ctx)
  const { choice, provider } = c
  await withClusterLock(c, 'down', async () => {
    const n = (await provider.list()).length
    await stopServiceForwards(c.stateDir)
    await ctx.progress.step(`Deleting ${n} ${choice.type} machine${n === 1 ? '' : 's'} and local state`, () => provider.destroy())
  })
  return 0
}

export async function sshCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [node, ...command] = args
  if (!node) throw new UsageError('kubelab ssh needs a node name: kubelab ssh NODE [-- CMD]')
  const { config, provider, stateDir } = openClusterFor(ctx)
  const machines = await provider.list()
  const m = machines.find((x) => x.name === node)
  if (!m) throw new UsageError(`no machine "${node}" in cluster ${config.name}; machines: ${machines.map((x) => x.name).join(', ') || 'none'}`)
  if (m.state !== 'running' || !m.forwards.ssh) throw new UsageError(`machine ${node} is ${m.state}; run: npx kubelab up`)
  const knownHosts = path.join(stateDir, 'ssh', 'known_hosts')
  writeFileAtomic(knownHosts, machines.filter((x) => x.ssh.hostPublicKey).map((x) => `${x.name} ${x.ssh.hostPublicKey}\n`).join(''))
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

export const doctorFlags = {
  fix: { type: 'boolean', help: 'as root on Debian/Ubuntu: install the missing host packages it names' },
} as const satisfies FlagDecls

/**
 * This host against the config: the provider's checks, and what building from Go modules needs for
 * whatever the cache lacks (looked up read-only). `--fix` installs the packages named, then checks again.
 */
export async function doctorCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof doctorFlags>): Promise<number> {
  const { config } = load(ctx)
  const kvm = probeKvm()
  const choice = chooseProvider(config.provider.type, kvm)
  const network = networkSummary(config)
  const cache = defaultCacheDir(ctx.env)
  const gaps = await cacheGaps(config, cache)
  const check = async (): Promise<PreflightCheck[]> => {
    const builds = await buildChecks(buildsOf(gaps, { strict: false }))
    try {
      const provider = createProvider(choice, { config, stateDir: clusterStateDir(config.name, ctx.env), cacheDir: cache, progress: ctx.progress })
      return [...await provider.preflight(), ...builds]
    } catch (err) {
      if (!(err instanceof NotImplementedError)) throw err
      return [{ name: `provider ${choice.type}`, ok: false, detail: 'not implemented yet', fix: 'set provider.type: nspawn' }, ...builds]
    }
  }
  let checks = await check()
  if (flags.fix && missingPackages(checks).length) {
    await installPackages(missingPackages(checks), ctx.progress)
    checks = await check()
  }
  const packages = missingPackages(checks)
  const report = { provider: choice, kvm, checks, wouldMake: gaps, ...(packages.length ? { install: installCommand(packages) } : {}), network }
  if (ctx.options.json) {
    printJson(ctx, report)
  } else {
    ctx.out(`provider: ${choice.type} (${choice.why})`)
    for (const c of checks) ctx.out(`  ${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}${c.ok || !c.fix ? '' : `\n      fix: ${c.fix}`}`)
    if (packages.length) ctx.out(`  install them all: ${installCommand(packages)}   (or: kubelab doctor --fix)`)
    if (gaps.length) ctx.out(`the first \`up\` makes what the cache lacks:\n${gaps.map((g) => `  ${describeWouldMake(g)}`).join('\n')}`)
    ctx.out(summaryLines(network).join('\n'))
  }
  return checks.every((c) => c.ok) ? 0 : 1
}

/** Forgets a node's pinned host key (after the machine was re-created on purpose). */
export async function sshResetCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [node] = args
  if (!node) throw new UsageError('kubelab ssh-reset needs a node name: kubelab ssh-reset NODE')
  const { config, stateDir } = openClusterFor(ctx)
  if (!config.nodes.some((n) => n.name === node)) throw new UsageError(`no node "${node}" in ${ctx.options.config}`)
  const store = hostKeyStore(stateDir)
  const had = await store.get(node)
  if (had) await store.delete(node)
  ctx.progress.info(had ? `forgot the host key of ${node} (${had}); the next connection pins the key it finds` : `no host key was pinned for ${node}`)
  return 0
}
