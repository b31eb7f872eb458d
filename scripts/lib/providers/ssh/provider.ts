// The ssh provider: existing hosts (bare metal, VMs made elsewhere). Nothing is provisioned or
// destroyed; preflight checks each host over SSH in one round trip: reachability, sudo, OS,
// architecture, cgroup version, swap, kernel features, free disk, systemd.

import { rmSync } from 'node:fs'
import type { NodeSpec } from '../../config/types.ts'
import { KubelabError, UsageError, type PreflightCheck } from '../../errors.ts'
import { runnerFor } from '../../remote/machine.ts'
import type { SshRunner } from '../../remote/runner.ts'
import { mapLimit } from '../../remote/limit.ts'
import { StateStore } from '../common/state.ts'
import { providerTraits } from '../traits.ts'
import type { Machine, Provider, ProviderContext, ProviderInfo } from '../types.ts'

/** One script, one round trip: facts as key=value lines. */
const FACTS_SCRIPT = `
. /etc/os-release 2>/dev/null || true
echo "os=\${ID:-unknown} \${VERSION_ID:-}"
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "cgroupfs=$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo none)"
echo "swap=$(awk 'NR>1{n++} END{print n+0}' /proc/swaps)"
echo "overlay=$(grep -qw overlay /proc/filesystems && echo yes || (modprobe -n overlay 2>/dev/null && echo module || echo no))"
echo "br_netfilter=$( [ -d /proc/sys/net/bridge ] && echo yes || (modprobe -n br_netfilter 2>/dev/null && echo module || echo no))"
echo "disk_gib=$(df -P -BG /var 2>/dev/null | awk 'NR==2{gsub("G","",$4); print $4}')"
echo "init=$(cat /proc/1/comm 2>/dev/null)"
echo "uid=$(id -u)"
`

export interface HostFacts {
  os: string
  arch: string
  kernel: string
  cgroupfs: string
  swap: string
  overlay: string
  br_netfilter: string
  disk_gib: string
  init: string
  uid: string
}

export function parseFacts(text: string): HostFacts {
  const kv = Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => {
    const i = l.indexOf('=')
    return [l.slice(0, i), l.slice(i + 1).trim()]
  }))
  const get = (k: keyof HostFacts) => String(kv[k] ?? '')
  return {
    os: get('os'), arch: get('arch'), kernel: get('kernel'), cgroupfs: get('cgroupfs'), swap: get('swap'),
    overlay: get('overlay'), br_netfilter: get('br_netfilter'), disk_gib: get('disk_gib'), init: get('init'), uid: get('uid'),
  }
}

/** Judges one host's facts; each check names the node. */
export function judgeFacts(node: string, f: HostFacts, sudoOk: boolean | undefined): PreflightCheck[] {
  const c = (name: string, ok: boolean, detail: string, fix: string): PreflightCheck => ({ name: `${node}: ${name}`, ok, detail, ...(ok ? {} : { fix }) })
  const disk = Number(f.disk_gib)
  const checks = [
    c('os', /^(debian|ubuntu)/.test(f.os), f.os, 'kubelab supports Debian and Ubuntu hosts'),
    c('architecture', f.arch === 'x86_64' || f.arch === 'aarch64', f.arch, 'use an amd64 or arm64 host'),
    c('cgroups', f.cgroupfs === 'cgroup2fs' || f.cgroupfs === 'tmpfs',
      f.cgroupfs === 'cgroup2fs' ? 'cgroup v2' : f.cgroupfs === 'tmpfs' ? 'cgroup v1 (kubelet runs with failCgroupV1: false)' : `no cgroup filesystem (${f.cgroupfs})`,
      'boot the host with cgroups mounted (systemd does this)'),
    c('swap', true, f.swap === '0' ? 'off' : `${f.swap} swap device(s) on; tolerated (failSwapOn: false, NoSwap)`, ''),
    c('overlayfs', f.overlay !== 'no', f.overlay === 'yes' ? 'supported' : f.overlay === 'module' ? 'module available' : 'missing', 'install a kernel with overlayfs'),
    c('br_netfilter', f.br_netfilter !== 'no', f.br_netfilter === 'yes' ? 'loaded' : f.br_netfilter === 'module' ? 'module available' : 'missing', 'install a kernel with the br_netfilter module'),
    c('disk', disk >= 10, `${f.disk_gib || '?'} GiB free on /var`, 'free at least 10 GiB on /var'),
    c('systemd', f.init === 'systemd', `PID 1 is ${f.init || 'unknown'}`, 'kubelab runs its services under systemd'),
  ]
  if (sudoOk !== undefined) checks.push(c('sudo', sudoOk, sudoOk ? 'passwordless sudo works' : 'sudo -n refused', 'allow passwordless sudo for the ssh user (a sudoers.d drop-in)'))
  return checks
}

export class SshProvider implements Provider {
  readonly type = 'ssh' as const
  private readonly state: StateStore

  constructor(private readonly ctx: ProviderContext) {
    this.state = new StateStore(ctx.stateDir)
  }

  info(): ProviderInfo {
    return { type: this.type, ...providerTraits(this.type) }
  }

  private machine(node: NodeSpec, state: Machine['state'] = 'running'): Machine {
    const { ssh } = this.ctx.config
    return {
      name: node.name,
      role: node.role,
      address: node.address,
      state,
      provider: this.type,
      ssh: { host: node.address, port: ssh.port, user: ssh.user },
      forwards: {},
    }
  }

  private async withRunner<T>(node: NodeSpec, fn: (r: SshRunner) => Promise<T>): Promise<T> {
    const r = await runnerFor(this.machine(node), this.ctx.stateDir, {
      config: this.ctx.config,
      progress: this.ctx.progress,
      connect: { deadlineMs: 8_000 },
    })
    try {
      return await fn(r)
    } finally {
      r.close()
    }
  }

  async preflight(): Promise<PreflightCheck[]> {
    const per = await mapLimit(this.ctx.config.nodes, 8, async (node) => {
      try {
        return await this.withRunner(node, async (r) => {
          const facts = parseFacts((await r.run(FACTS_SCRIPT, { sudo: false })).stdout)
          const sudoOk = r.sudo ? await r.test`true` : undefined
          return [{ name: `${node.name}: ssh`, ok: true, detail: `${r.user}@${node.address} reachable` }, ...judgeFacts(node.name, facts, sudoOk)]
        })
      } catch (err) {
        const hint = err instanceof KubelabError ? err.hint : undefined
        return [{ name: `${node.name}: ssh`, ok: false, detail: (err as Error).message, fix: hint ?? 'check the address, ssh.user and the key' }]
      }
    })
    return per.flat()
  }

  async ensure(nodes: readonly NodeSpec[]): Promise<Machine[]> {
    const { config } = this.ctx
    this.state.update(config.name, this.type, (s) => {
      for (const n of nodes) {
        s.machines[n.name] ??= { address: n.address, role: n.role, pids: {}, forwards: {}, createdAt: new Date().toISOString() }
      }
    })
    return nodes.map((n) => this.machine(n))
  }

  async list(): Promise<Machine[]> {
    const { config } = this.ctx
    const known = this.state.read(config.name, this.type).machines
    const nodes = config.nodes.filter((n) => known[n.name])
    return mapLimit(nodes, 8, async (n) => {
      try {
        await this.withRunner(n, (r) => r.$({ sudo: false })`true`)
        return this.machine(n, 'running')
      } catch {
        return this.machine(n, 'missing')
      }
    })
  }

  /** Existing hosts are never deleted: `down` forgets them (local state only). */
  async stop(): Promise<void> {
    throw new UsageError('kubelab stop stops machines kubelab made; the hosts of provider ssh are yours to shut down')
  }

  async destroy(names?: readonly string[]): Promise<void> {
    const { config } = this.ctx
    const s = this.state.update(config.name, this.type, (st) => {
      for (const n of names ?? Object.keys(st.machines)) delete st.machines[n]
    })
    if (Object.keys(s.machines).length === 0) rmSync(this.ctx.stateDir, { recursive: true, force: true })
  }

  async collectLogs(): Promise<void> {
    // Existing hosts keep their own logs (journalctl); nothing provider-level to copy.
  }
}
