// The nspawn provider: machine containers (systemd as PID 1, sshd) for hosts without a
// hypervisor, like kind's nodes. Each machine: its own network namespace joined to the lab bridge,
// its own cgroups, an overlay root over the cached base image. kubelab reaches sshd through a
// UNIX socket and the user through a 127.0.0.1 port; no private address is dialled from the host.

import { accessSync, constants, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statfsSync } from 'node:fs'
import path from 'node:path'
import type { NodeSpec } from '../../config/types.ts'
import type { PreflightCheck } from '../../errors.ts'
import { hostOk } from '../../host/exec.ts'
import { inConfigOrder, madeMachine, waitBooted, waitForSsh } from '../common/boot.ts'
import { forwardsFor, forwardsRunning, startForwards, stopForwards } from '../common/forward.ts'
import { ensureClusterKey, ensureHostKey } from '../common/keys.ts'
import { ensureRootfs } from '../common/rootfs.ts'
import { StateStore, type MachineRecord } from '../common/state.ts'
import { providerTraits } from '../traits.ts'
import type { Machine, Provider, ProviderContext, ProviderInfo } from '../types.ts'
import { NSPAWN_IMAGE } from './image.ts'
import { logTail, processMatches, stopProcess } from '../common/process.ts'
import {
  cleanupMachine, ensureOverlay, machinePaths, NODE_CACHE_PATH, startNspawn, writeNodeFiles, type MachinePaths,
} from './machine.ts'
import { machineResolvConf } from '../../egress/upstream.ts'
import { convergeUplink, destroyUplink, uplinkPreflight } from '../common/uplink.ts'
import { ensureLab, ensureNodeNetwork, labNames, removeNamespace } from '../common/network.ts'

const BOOT_DEADLINE_MS = 90_000

export class NspawnProvider implements Provider {
  readonly type = 'nspawn' as const
  private readonly state: StateStore
  private readonly names: ReturnType<typeof labNames>

  constructor(private readonly ctx: ProviderContext) {
    this.state = new StateStore(ctx.stateDir)
    this.names = labNames(ctx.config.name)
  }

  info(): ProviderInfo {
    return { type: this.type, ...providerTraits(this.type) }
  }

  private unitName(node: string): string {
    return `kubelab-${this.ctx.config.name}-${node}`
  }

  private paths(node: string): MachinePaths {
    return machinePaths(this.ctx.stateDir, node)
  }

  private prefix(): string {
    return this.ctx.config.provider.network.split('/')[1]!
  }

  async preflight(): Promise<PreflightCheck[]> {
    const checks: PreflightCheck[] = []
    const add = (name: string, ok: boolean, detail: string, fix: string, packages?: string[]) => checks.push({ name, ok, detail, ...(ok ? {} : { fix, ...(packages ? { packages } : {}) }) })
    add('root', process.getuid?.() === 0, process.getuid?.() === 0 ? 'running as root' : 'nspawn machines need root',
      'run as root (sudo -E npx kubelab up), or use provider qemu (rootless)')
    for (const [tool, pkg] of [['systemd-nspawn', 'systemd-container'], ['debootstrap', 'debootstrap'], ['ip', 'iproute2'],
      ['socat', 'socat'], ['ssh-keygen', 'openssh-client'], ['ssh', 'openssh-client']] as const) {
      const ok = await hostOk`command -v ${tool}`
      add(`command ${tool}`, ok, ok ? 'found' : 'not found', `apt-get install -y ${pkg}`, [pkg])
    }
    const fs = readFileSync('/proc/filesystems', 'utf8')
    add('overlayfs', /\toverlay$/m.test(fs), /\toverlay$/m.test(fs) ? 'supported' : 'not in /proc/filesystems', 'modprobe overlay')
    const cg = existsSync('/sys/fs/cgroup/memory') || existsSync('/sys/fs/cgroup/cgroup.controllers')
    add('cgroups', cg, cg ? 'mounted' : 'no cgroup hierarchy under /sys/fs/cgroup', 'mount cgroups (a systemd host has them)')
    let probe = this.ctx.stateDir // preflight changes nothing: measure the nearest folder that exists
    while (!existsSync(probe)) probe = path.dirname(probe)
    const free = (() => { const s = statfsSync(probe); return (s.bavail * s.bsize) / 2 ** 30 })()
    const need = 2 + this.ctx.config.nodes.length
    add('disk', free >= need, `${free.toFixed(1)} GiB free in ${this.ctx.stateDir}`, `free ${need} GiB there, or set KUBELAB_STATE to a larger disk`)
    let netnsOk = true
    try { mkdirSync('/run/netns', { recursive: true }); accessSync('/run/netns', constants.W_OK) } catch { netnsOk = false }
    add('network namespaces', netnsOk, netnsOk ? '/run/netns writable' : '/run/netns not writable', 'run as root')
    checks.push(...await uplinkPreflight(this.ctx.config.egress.uplink))
    return checks
  }

  async ensure(nodes: readonly NodeSpec[]): Promise<Machine[]> {
    const { config, progress } = this.ctx
    const base = await ensureRootfs(NSPAWN_IMAGE, {
      cacheDir: path.join(this.ctx.cacheDir, 'images'),
      ...(config.provider.debianMirror ? { mirror: config.provider.debianMirror } : {}),
      progress,
    })
    const key = await ensureClusterKey(this.ctx.stateDir)
    await ensureLab(this.names.lab, `${config.provider.gateway}/${this.prefix()}`)
    await convergeUplink(this.names.lab, config.name, config.egress.uplink, this.state, this.type)
    const hosts = Object.fromEntries(config.nodes.map((n) => [n.name, n.address]))
    const existing = this.state.read(config.name, this.type).machines

    const started: string[] = []
    await Promise.all(nodes.map(async (node) => {
      const rec = existing[node.name]
      if (rec && rec.address !== node.address) {
        progress.debug(1, `${node.name}: address changed ${rec.address} -> ${node.address}; recreating`)
        await this.destroyOne(node.name)
      }
      const current = this.state.read(config.name, this.type).machines[node.name]
      if (this.running(node.name, current)) {
        progress.debug(1, `${node.name}: running, reused`)
        return
      }
      // The machine runs but its forwards differ (addons.registry turned on or off): only the
      // forwarders are replaced; the machine and its pods keep running.
      if (current && this.machineAlive(node.name, current)) {
        progress.debug(1, `${node.name}: running, forwards replaced`)
        await this.replaceForwards(node, current)
        return
      }
      await this.start(node, base, key.publicKey, hosts)
      started.push(node.name)
    }))
    const machines = await this.list()
    await Promise.all(machines.filter((m) => started.includes(m.name)).map((m) =>
      waitBooted(m, this.ctx.stateDir, this.ctx.progress, BOOT_DEADLINE_MS, () => logTail(this.paths(m.name).console))))
    return machines
  }

  /** A machine's node as the forwards see it: its role, and its port mappings while the config lists it. */
  private nodeForwards(name: string, role: NodeSpec['role']): Pick<NodeSpec, 'role' | 'portMappings'> {
    return { role, portMappings: this.ctx.config.nodes.find((n) => n.name === name)?.portMappings ?? [] }
  }

  private running(name: string, rec: MachineRecord | undefined): boolean {
    return !!rec && this.machineAlive(name, rec)
      && forwardsRunning(this.paths(name).dir, rec.pids, forwardsFor(this.nodeForwards(name, rec.role), this.ctx.config.addons.registry))
  }

  private machineAlive(name: string, rec: MachineRecord): boolean {
    return processMatches(rec.pids.nspawn, 'systemd-nspawn', `--machine=${name}`, this.paths(name).rootfs)
  }

  private async replaceForwards(node: NodeSpec, rec: MachineRecord): Promise<void> {
    const p = this.paths(node.name)
    await stopForwards(p.dir, rec.pids)
    const fw = await startForwards(p.dir, { netns: this.names.node(node.name), host: '127.0.0.1' }, forwardsFor(node, this.ctx.config.addons.registry), rec.forwards)
    this.state.update(this.ctx.config.name, this.type, (s) => {
      const m = s.machines[node.name]
      if (m) s.machines[node.name] = { ...m, pids: { nspawn: m.pids.nspawn!, ...fw.pids }, forwards: fw.ports }
    })
  }

  private async start(node: NodeSpec, base: string, authorizedKey: string, hosts: Record<string, string>): Promise<void> {
    const { config } = this.ctx
    const p = this.paths(node.name)
    const netns = this.names.node(node.name)
    const prev = this.state.read(config.name, this.type).machines[node.name]
    // A machine that stopped (or half-started) is started again on the same disk.
    await this.stopProcesses(node.name, prev)
    await cleanupMachine(p, this.unitName(node.name))
    await ensureNodeNetwork(this.names.lab, netns, node.name, `${node.address}/${this.prefix()}`, config.provider.gateway)
    await ensureOverlay(base, p)
    const fingerprint = await ensureHostKey(p.hostKey, node.name)
    writeNodeFiles(p, { name: node.name, resolvConf: machineResolvConf(config), authorizedKey, hosts })
    rmSync(p.console, { force: true })
    mkdirSync(this.ctx.cacheDir, { recursive: true })
    // The control plane is every node's critical path (its API server and controller-manager start
    // while the workers import images): twice a worker's CPU share when they compete, no cap.
    const nspawn = startNspawn(p, { name: node.name, unitName: this.unitName(node.name), netns, cacheDir: this.ctx.cacheDir, cpuWeight: node.role === 'control-plane' ? 2 : 1 })
    const fw = await startForwards(p.dir, { netns, host: '127.0.0.1' }, forwardsFor(node, config.addons.registry), prev?.forwards)
    this.state.update(config.name, this.type, (s) => {
      s.machines[node.name] = {
        address: node.address,
        role: node.role,
        pids: { nspawn, ...fw.pids },
        forwards: fw.ports,
        hostKeyFingerprint: fingerprint,
        share: this.ctx.cacheDir,
        createdAt: prev?.createdAt ?? new Date().toISOString(),
      }
    })
    await waitForSsh(node.name, { path: p.sshSocket }, BOOT_DEADLINE_MS, {
      alive: () => processMatches(nspawn, 'systemd-nspawn'), log: p.console, exitedMessage: 'systemd-nspawn exited during boot',
    })
  }

  async list(): Promise<Machine[]> {
    const { config } = this.ctx
    return inConfigOrder(config, this.state.read(config.name, this.type).machines).map(([name, rec]) => {
      const p = this.paths(name)
      return madeMachine({
        name, rec, provider: this.type, stateDir: this.ctx.stateDir, hostKeyFile: p.hostKey,
        state: this.running(name, rec) ? 'running' : existsSync(p.upper) ? 'stopped' : 'missing',
        dial: { socketPath: p.sshSocket, port: 22 },
        ...(rec.share ? { share: { hostPath: rec.share, nodePath: NODE_CACHE_PATH } } : {}),
      })
    })
  }

  /** Stops the machine: a clean halt when it will be started again, a short one when it is deleted. */
  private async stopProcesses(name: string, rec: MachineRecord | undefined, graceMs = 20_000): Promise<void> {
    if (!rec) return
    const p = this.paths(name)
    await stopProcess(rec.pids.nspawn, ['systemd-nspawn', `--machine=${name}`, p.rootfs], graceMs)
    await stopForwards(p.dir, rec.pids)
  }

  async stop(): Promise<void> {
    const machines = this.state.read(this.ctx.config.name, this.type).machines
    // SIGTERM: systemd-nspawn has the machine's systemd shut down in order (20 s, then SIGKILL).
    await Promise.all(Object.entries(machines).map(([name, rec]) => this.stopProcesses(name, rec)))
  }

  private async destroyOne(name: string): Promise<void> {
    const { config } = this.ctx
    const rec = this.state.read(config.name, this.type).machines[name]
    const p = this.paths(name)
    await this.stopProcesses(name, rec, 5_000) // its disk is deleted next: no need to wait for a clean halt
    await cleanupMachine(p, this.unitName(name))
    await removeNamespace(this.names.node(name))
    rmSync(p.dir, { recursive: true, force: true })
    this.state.update(config.name, this.type, (s) => { delete s.machines[name] })
  }

  async destroy(names?: readonly string[]): Promise<void> {
    const { config } = this.ctx
    const all = Object.keys(this.state.read(config.name, this.type).machines)
    const targets = names ?? all
    await Promise.all(targets.map((n) => this.destroyOne(n)))
    if (Object.keys(this.state.read(config.name, this.type).machines).length === 0) {
      await destroyUplink(this.names.lab, config.name, this.state, this.type)
      await removeNamespace(this.names.lab)
      rmSync(this.ctx.stateDir, { recursive: true, force: true })
    }
  }

  async collectLogs(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true })
    for (const m of await this.list()) {
      const p = this.paths(m.name)
      if (existsSync(p.console)) copyFileSync(p.console, path.join(dir, `${m.name}.console.log`))
    }
  }
}
