// `kubelab kubeconfig [--merge]` and `kubelab kubectl -- ARGS`: admin access from the user's own
// shell, through the API server's 127.0.0.1 forward (the certificate covers 127.0.0.1).

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parse, stringify } from 'yaml'
import { resolveArtifacts } from '../lib/artifacts/resolve.ts'
import { UsageError } from '../lib/errors.ts'
import type { CommandContext, CommandFlags } from './context.ts'
import { openCluster, type Opened } from './machines.ts'

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string } }[]
  contexts: { name: string; context: { cluster: string; user: string } }[]
  users: { name: string }[]
  'current-context': string
  [k: string]: unknown
}

/** The admin kubeconfig for use on this host: server = the API server's loopback forward, names kubelab-<cluster>. */
export async function hostKubeconfig({ config, provider, stateDir }: Opened): Promise<string> {
  const admin = path.join(stateDir, 'pki', 'admin.conf')
  if (!existsSync(admin)) throw new UsageError(`cluster "${config.name}" has no admin kubeconfig yet (${admin}); run: npx kubelab up`)
  const cp = (await provider.list()).find((m) => m.role === 'control-plane')
  const port = cp?.forwards.apiserver
  if (!cp || cp.state !== 'running' || !port) throw new UsageError(`the control plane of "${config.name}" is not running; run: npx kubelab up`)
  const kc = parse(readFileSync(admin, 'utf8')) as Kubeconfig
  const name = `kubelab-${config.name}`
  kc.clusters = kc.clusters.map((c) => ({ ...c, name, cluster: { ...c.cluster, server: `https://127.0.0.1:${port}` } }))
  kc.users = kc.users.map((u) => ({ ...u, name }))
  kc.contexts = [{ name, context: { cluster: name, user: name } }]
  kc['current-context'] = name
  return stringify(kc)
}

export async function kubeconfigCommand(ctx: CommandContext, _args: string[], flags: CommandFlags): Promise<number> {
  const text = await hostKubeconfig(openCluster(ctx))
  if (!flags.merge) {
    ctx.out(text)
    return 0
  }
  // Like kind: merge into ~/.kube/config (or $KUBECONFIG's first file), replacing our own entries.
  const target = (ctx.env.KUBECONFIG ?? '').split(':')[0] || path.join(ctx.env.HOME ?? os.homedir(), '.kube', 'config')
  const ours = parse(text) as Kubeconfig
  const theirs = (existsSync(target) ? parse(readFileSync(target, 'utf8')) : null) as Kubeconfig | null ?? { apiVersion: 'v1', kind: 'Config', clusters: [], contexts: [], users: [], 'current-context': '' }
  const name = ours['current-context']
  const merged: Kubeconfig = {
    ...theirs,
    clusters: [...(theirs.clusters ?? []).filter((c) => c.name !== name), ...ours.clusters],
    contexts: [...(theirs.contexts ?? []).filter((c) => c.name !== name), ...ours.contexts],
    users: [...(theirs.users ?? []).filter((u) => u.name !== name), ...ours.users],
    'current-context': name,
  }
  mkdirSync(path.dirname(target), { recursive: true })
  writeFileSync(target, stringify(merged), { mode: 0o600 })
  ctx.progress.info(`✓ merged context "${name}" into ${target} and made it current`)
  return 0
}

/** The pinned kubectl and a host kubeconfig file (written into the cluster state) for it. */
export async function hostKubectlSetup(opened: Opened, progress: CommandContext['progress']): Promise<{ kubectl: string; kubeconfig: string }> {
  const kubeconfig = path.join(opened.stateDir, 'kubeconfig')
  writeFileSync(kubeconfig, await hostKubeconfig(opened), { mode: 0o600 })
  const kubectl = (await resolveArtifacts(opened.config, { progress })).find((a) => a.file === 'kubectl')
  if (!kubectl) throw new UsageError('no kubectl in the artifacts of this config')
  return { kubectl: kubectl.path, kubeconfig }
}

/** Runs the pinned kubectl on this host against the cluster's loopback forward. */
export async function hostKubectl(opened: Opened, args: readonly string[], io: { input?: string; capture?: boolean; progress: CommandContext['progress'] }): Promise<{ status: number; stdout: string; stderr: string }> {
  const { kubectl, kubeconfig: file } = await hostKubectlSetup(opened, io.progress)
  const r = spawnSync(kubectl, args, {
    stdio: io.capture || io.input !== undefined ? 'pipe' : 'inherit',
    ...(io.input !== undefined ? { input: io.input } : {}),
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: file },
  })
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

export async function kubectlCommand(ctx: CommandContext, args: string[]): Promise<number> {
  return (await hostKubectl(openCluster(ctx), args, { progress: ctx.progress })).status
}
