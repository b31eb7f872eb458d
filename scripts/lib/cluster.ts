// A cluster as every command opens it: the loaded config (nodes keep the address and pod CIDR they
// were given), the provider chosen for it, its state and cache folders; the lock that serialises
// the commands that change it; and admin access from this host (kubeconfig through the API
// server's 127.0.0.1 forward, the pinned kubectl).

import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parse, stringify } from 'yaml'
import { cacheDir as defaultCacheDir } from './artifacts/cache.ts'
import { resolveArtifacts } from './artifacts/resolve.ts'
import { resolveNodeHosts } from './config/hosts.ts'
import type { LoadedConfig } from './config/load.ts'
import type { ClusterConfig } from './config/types.ts'
import { UsageError } from './errors.ts'
import { writeFileAtomic } from './host/files.ts'
import { stabilize } from './lifecycle/allocations.ts'
import type { Progress } from './log/progress.ts'
import { withFileLock } from './providers/common/lock.ts'
import { defaultStateRoot } from './providers/common/state.ts'
import { chooseProvider, clusterStateDir, createProvider, type ProviderChoice } from './providers/index.ts'
import type { Provider } from './providers/types.ts'

export type Env = Readonly<Record<string, string | undefined>>

export interface Cluster {
  readonly config: ClusterConfig
  readonly choice: ProviderChoice
  readonly provider: Provider
  /** This cluster's state: what kubelab made, PKI, pinned host keys, timings, logs. */
  readonly stateDir: string
  /** The host-wide cache: binaries, images. */
  readonly cacheDir: string
  readonly progress: Progress
  readonly env: Env
}

export function openCluster(loaded: LoadedConfig, o: { env: Env; progress: Progress }): Cluster {
  const stateDir = clusterStateDir(loaded.config.name, o.env)
  // Nodes keep the address and pod CIDR they were given, whatever was removed before them; a host
  // name as an address (ssh) is resolved here, once, and the address used.
  const config = resolveNodeHosts(stabilize(loaded, stateDir), (line) => o.progress.info(line))
  const choice = chooseProvider(config.provider.type)
  const cacheDir = defaultCacheDir(o.env)
  const provider = createProvider(choice, { config, stateDir, cacheDir, progress: o.progress })
  return { config, choice, provider, stateDir, cacheDir, progress: o.progress, env: o.env }
}

/** Serialises the commands that change one cluster (up, down, smoke, upgrade, ...): a second one is refused with who holds the lock. */
export function withClusterLock<T>(c: Pick<Cluster, 'config' | 'env'>, what: string, fn: () => Promise<T>): Promise<T> {
  return withFileLock(path.join(defaultStateRoot(c.env), `${c.config.name}.lock`), { wait: false, what: `kubelab ${what} (cluster ${c.config.name})` }, fn)
}

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string } }[]
  contexts: { name: string; context: { cluster: string; user: string } }[]
  users: { name: string }[]
  'current-context': string
  [k: string]: unknown
}

/** The admin kubeconfig for use on this host: server = the API server's loopback forward, names kubelab-<cluster>. */
export async function hostKubeconfig({ config, provider, stateDir }: Cluster): Promise<string> {
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

/** Our entries merged into someone's kubeconfig text (replacing earlier ones of the same name), made current; throws when theirs is not a kubeconfig (never merged over). */
export function mergeKubeconfig(theirsText: string | undefined, oursText: string): string {
  const ours = parse(oursText) as Kubeconfig
  const parsed: unknown = theirsText ? parse(theirsText) : null
  if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new Error('the document is not a mapping')
  for (const key of ['clusters', 'contexts', 'users'] as const) {
    const v = (parsed as Record<string, unknown> | null)?.[key]
    if (v !== undefined && v !== null && !Array.isArray(v)) throw new Error(`${key} is not a list`)
  }
  const theirs = parsed as Kubeconfig | null ?? { apiVersion: 'v1', kind: 'Config', clusters: [], contexts: [], users: [], 'current-context': '' }
  const name = ours['current-context']
  return stringify({
    ...theirs,
    clusters: [...(theirs.clusters ?? []).filter((c) => c.name !== name), ...ours.clusters],
    contexts: [...(theirs.contexts ?? []).filter((c) => c.name !== name), ...ours.contexts],
    users: [...(theirs.users ?? []).filter((u) => u.name !== name), ...ours.users],
    'current-context': name,
  } satisfies Kubeconfig)
}

/** The pinned kubectl and a host kubeconfig file (written into the cluster state) for it. */
export async function hostKubectlSetup(c: Cluster): Promise<{ kubectl: string; kubeconfig: string }> {
  const kubeconfig = path.join(c.stateDir, 'kubeconfig')
  writeFileAtomic(kubeconfig, await hostKubeconfig(c), { mode: 0o600 })
  const kubectl = (await resolveArtifacts(c.config, { progress: c.progress })).find((a) => a.file === 'kubectl')
  if (!kubectl) throw new UsageError('no kubectl in the artifacts of this config')
  return { kubectl: kubectl.path, kubeconfig }
}

/** Runs the pinned kubectl on this host against the cluster's loopback forward. */
export async function hostKubectl(c: Cluster, args: readonly string[], io: { input?: string; capture?: boolean } = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  const { kubectl, kubeconfig: file } = await hostKubectlSetup(c)
  const r = spawnSync(kubectl, args, {
    stdio: io.capture || io.input !== undefined ? 'pipe' : 'inherit',
    ...(io.input !== undefined ? { input: io.input } : {}),
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: file },
  })
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}
