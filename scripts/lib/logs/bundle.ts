// The logs bundle: what to look at when a cluster misbehaves, gathered in one directory.
// Per node (all nodes in parallel, each command with its own timeout): unit journals, kernel log,
// routes and addresses, packet-filter rules, containers and images, failed units, and the config
// files kubelab installs. Cluster-wide (managed control plane, kubectl on the control-plane node):
// nodes, pods, events, CSRs, nodes as YAML. A failing command becomes a problem in index.json and
// never stops the bundle. Every file passes through redactSecrets before it is written.
//
// index.json also says how traffic gets in and out (egress/summary.ts).
//
//   DIR/<node>/<what>.txt   DIR/cluster/<what>.txt   DIR/index.json

import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { ClusterConfig } from '../config/types.ts'
import type { Progress } from '../log/progress.ts'
import { pkiFileInfo } from '../pki/store.ts'
import { KUBELET_KUBECONFIG, adminKubectl } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'
import { providerTraits, type ProviderTraits } from '../providers/traits.ts'
import { INSTALLED_FILES, type InstalledFile } from '../templates/table.ts'
import { networkSummary } from '../egress/summary.ts'
import { redactSecrets } from './redact.ts'

export interface LogsBundleOptions {
  config: ClusterConfig
  /** The nodes to collect from (each gets DIR/<node>/). */
  nodes: readonly NodeHandle[]
  dir: string
  progress: Progress
  /** Where cluster-wide kubectl runs; default: the control-plane node among `nodes`. */
  controlPlane?: NodeHandle
  /** Problems the caller already had (e.g. a node it could not open); recorded in index.json. */
  problems?: readonly string[]
  /** Per-command timeout (default 30 s). */
  timeoutMs?: number
  /** What made the machines (Provider.info()); default: the static traits of each machine's provider type. */
  provider?: Pick<ProviderTraits, 'imageFiles'>
}

export interface LogsBundle {
  dir: string
  /** Files written, relative to dir (index.json last). */
  files: string[]
  problems: string[]
}

/** One thing collected from a node: the file it lands in and the command that produces it. */
export interface Collect {
  readonly what: string
  readonly command: string
}

const WORKER_UNITS = ['containerd', 'kubelet', 'kube-proxy', 'kube-router'] as const
const CONTROL_PLANE_UNITS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const

/** Config files kubelab writes that hold secrets: collected too, but only ever redacted. */
const SECRET_FILES = ['bootstrap-kubeconfig', 'kube-proxy.conf', 'encryption-config.yaml', 'bootstrap-token.yaml'] as const

/**
 * The installed files on a node of this role (from the templates table and the PKI table); image
 * files only those the provider's machines carry (`imageFiles` of its traits or info; every image's
 * when the provider is unknown).
 */
export function configFiles(role: 'control-plane' | 'worker', provider?: Pick<ProviderTraits, 'imageFiles'>): string[] {
  const onNode = (on: InstalledFile['on']) => {
    switch (on) {
      case 'all': return true
      case 'control-plane': return role === 'control-plane'
      default: return provider === undefined || provider.imageFiles.includes(on)
    }
  }
  const files = Object.values(INSTALLED_FILES).filter((f) => onNode(f.on)).map((f) => f.dest)
  for (const f of SECRET_FILES) {
    const info = pkiFileInfo(f)
    if (info && (info.nodes === 'all' || role === 'control-plane')) files.push(info.installPath)
  }
  files.push(KUBELET_KUBECONFIG)
  return [...new Set(files)]
}

/** `/etc/containerd/config.toml` -> `file-etc-containerd-config.toml`. */
export function fileWhat(dest: string): string {
  return `file${dest.replace(/\//g, '-')}`
}

/** What to collect on a node of this role, in order. */
export function nodeCollects(role: 'control-plane' | 'worker', provider?: Pick<ProviderTraits, 'imageFiles'>): Collect[] {
  const units = role === 'control-plane' ? [...WORKER_UNITS, ...CONTROL_PLANE_UNITS] : [...WORKER_UNITS]
  const optional = (cmd: string, what: string) => `if command -v ${cmd} >/dev/null 2>&1; then ${what}; else echo "(${cmd} is not installed on this node)"; fi`
  return [
    ...units.map((u) => ({ what: `journal-${u}`, command: `journalctl -u ${u}.service --no-pager -n 2000 -o short-precise` })),
    { what: 'dmesg', command: 'dmesg --ctime 2>/dev/null | tail -n 1000 || dmesg | tail -n 1000' },
    { what: 'ip-route', command: 'ip route show table all' },
    { what: 'ip-addr', command: 'ip addr' },
    { what: 'iptables', command: optional('iptables-save', 'iptables-save') },
    { what: 'nft', command: optional('nft', 'nft list ruleset') },
    // network.policy: the sets kube-router's rules match on.
    { what: 'ipset', command: optional('ipset', 'ipset list') },
    { what: 'crictl-ps', command: 'crictl ps -a' },
    { what: 'crictl-images', command: 'crictl images' },
    { what: 'systemctl-failed', command: 'systemctl --failed --no-pager' },
    // runtime:registries: one hosts.toml per registry host (mirrors, CA, plain http).
    { what: 'containerd-hosts', command: 'for f in /etc/containerd/certs.d/*/hosts.toml; do [ -e "$f" ] || { echo "(no registry hosts configured)"; break; }; echo "== $f"; cat "$f"; done' },
    ...configFiles(role, provider).map((f) => ({
      what: fileWhat(f),
      command: `if [ -e ${f} ]; then cat ${f}; else echo "(${f} does not exist on this node)"; fi`,
    })),
  ]
}

/** The cluster-wide kubectl reads: file name -> kubectl arguments. */
export const CLUSTER_COLLECTS: readonly { what: string; args: string }[] = [
  { what: 'nodes', args: 'get nodes -o wide' },
  { what: 'pods', args: 'get pods -A -o wide' },
  { what: 'events', args: 'get events -A --sort-by=.lastTimestamp' },
  { what: 'csr', args: 'get csr -o wide' },
  { what: 'nodes-yaml', args: 'get nodes -o yaml' },
]

function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join(' | ')
}

export async function writeLogsBundle(o: LogsBundleOptions): Promise<LogsBundle> {
  const { config, nodes, progress } = o
  const dir = path.resolve(o.dir)
  const timeoutMs = o.timeoutMs ?? 30_000
  const files: string[] = []
  const problems: string[] = [...(o.problems ?? [])]
  const entries: { file: string; node: string; what: string; command: string; bytes: number; ok: boolean }[] = []
  await mkdir(dir, { recursive: true })

  /** Runs one command on a node, writes its (redacted) output; failures become problems. */
  const collect = async (node: NodeHandle, sub: string, what: string, command: string): Promise<void> => {
    const file = path.join(sub, `${what}.txt`)
    let text: string
    let ok = false
    try {
      const r = await node.runner.run(command, { nothrow: true, timeoutMs })
      ok = r.ok
      text = r.stdout + (r.stderr.trim() ? `\n--- stderr ---\n${r.stderr}` : '')
      if (!r.ok) problems.push(`${node.spec.name}: ${what}: \`${command}\` exited ${r.exitCode}: ${tail(r.stderr || r.stdout)}`)
    } catch (err) {
      const e = err as Error
      text = `(collecting failed: ${e.message})\n`
      problems.push(`${node.spec.name}: ${what}: \`${command}\` failed: ${e.message.split('\n')[0]}`)
    }
    const body = redactSecrets(text)
    await mkdir(path.join(dir, sub), { recursive: true })
    await writeFile(path.join(dir, file), body, { mode: 0o600 })
    files.push(file)
    entries.push({ file, node: sub === 'cluster' ? 'cluster' : node.spec.name, what, command, bytes: Buffer.byteLength(body), ok })
  }

  const perNode = nodes.map(async (node) => {
    const role = node.spec.role === 'control-plane' ? 'control-plane' : 'worker'
    const collects = nodeCollects(role, o.provider ?? providerTraits(node.machine.provider))
    await Promise.all(collects.map((c) => collect(node, node.spec.name, c.what, c.command)))
    progress.debug(1, `logs: ${node.spec.name}: ${collects.length} files`)
  })

  const cp = o.controlPlane ?? nodes.find((n) => n.spec.role === 'control-plane')
  const clusterWide = (async () => {
    if (config.controlPlane.mode !== 'managed') {
      problems.push(`cluster: skipped: the control plane is ${config.controlPlane.mode}, kubelab has no admin kubeconfig on a node`)
      return
    }
    if (!cp) {
      problems.push('cluster: skipped: no control-plane node was reachable')
      return
    }
    await Promise.all(CLUSTER_COLLECTS.map((c) => collect(cp, 'cluster', c.what, `${adminKubectl(['--request-timeout=20s']).join(' ')} ${c.args}`)))
  })()

  await progress.step(`Collecting logs from ${nodes.length} node${nodes.length === 1 ? '' : 's'} into ${dir}`,
    () => Promise.all([...perNode, clusterWide]),
    () => `${files.length} files${problems.length ? `, ${problems.length} problem${problems.length === 1 ? '' : 's'}` : ''}`)

  files.sort()
  entries.sort((a, b) => a.file.localeCompare(b.file))
  const index = {
    cluster: config.name,
    createdAt: new Date().toISOString(),
    nodes: nodes.map((n) => n.spec.name),
    // Egress (uplink, upstream DNS, proxy), registries and the local registry, as the config has them.
    network: networkSummary(config),
    files: entries,
    problems,
  }
  await writeFile(path.join(dir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`, { mode: 0o600 })
  files.push('index.json')
  return { dir, files, problems }
}
