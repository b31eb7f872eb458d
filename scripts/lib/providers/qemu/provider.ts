// The qemu provider: real VMs with their own kernel. KVM when usable, else TCG (slow, warned).
// As root, each VM's tap sits on the lab bridge inside kubelab's lab namespace and QEMU runs in
// that namespace; kubelab reaches sshd through a UNIX-socket forwarder there. Without root (a
// laptop user), QEMU user-mode networking forwards sshd to a 127.0.0.1 port.
// The disk is the locally built Debian image (direct kernel boot, kubelab's seed unit) or, with
// provider.qemu.image, an official cloud image by URL + sha256 that boots with its own bootloader
// and is configured by cloud-init from a NoCloud seed. HVF on macOS, KVM where usable, else TCG.

import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { NodeSpec } from '../../config/types.ts'
import { MachineError, type PreflightCheck } from '../../errors.ts'
import { host, hostOk } from '../../host/exec.ts'
import { packagePath } from '../../host/package.ts'
import { inConfigOrder, madeMachine, waitBooted, waitForSsh } from '../common/boot.ts'
import { ensureClusterKey, ensureHostKey } from '../common/keys.ts'
import { forwardsFor, forwardsRunning, startForwards, stopForwards } from '../common/forward.ts'
import { freePort, logTail, processMatches, spawnDetached, stopProcess } from '../common/process.ts'
import { StateStore, type MachineRecord } from '../common/state.ts'
import { runnerFor } from '../../remote/machine.ts'
import { probeKvm } from '../kvm.ts'
import { machineResolvConf } from '../../egress/upstream.ts'
import { convergeUplink, destroyUplink, uplinkPreflight } from '../common/uplink.ts'
import { BRIDGE, ensureLab, labNames, removeNamespace, vethName } from '../common/network.ts'
import { providerTraits } from '../traits.ts'
import type { Machine, Provider, ProviderContext, ProviderInfo } from '../types.ts'
import { ensureCloudImage, ensureCloudOverlay, type CloudImage } from './cloud-image.ts'
import { diskPaths, ensureQemuDisk, type QemuDisk } from './image.ts'
import { chooseAccel, ensureOverlayDisk, macFor, writeSerconPort, networkScript, qemuArgv, readPid, vmPaths, writeSeed, type Accel, type VmNet, type VmPaths } from './machine.ts'
import { writeNocloudSeed, type NicConfig } from './nocloud.ts'

/**
 * Under TCG the local image boots in 20-25 s alone and 65-95 s three at once on 2 cores; a cloud
 * image with cloud-init takes longer. KUBELAB_BOOT_TIMEOUT (s) overrides.
 */
const BOOT_DEADLINE_MS: Record<Accel, number> = process.env.KUBELAB_BOOT_TIMEOUT
  ? { kvm: Number(process.env.KUBELAB_BOOT_TIMEOUT) * 1000, hvf: Number(process.env.KUBELAB_BOOT_TIMEOUT) * 1000, tcg: Number(process.env.KUBELAB_BOOT_TIMEOUT) * 1000 }
  : { kvm: 90_000, hvf: 90_000, tcg: 300_000 }

/** What a VM boots: the locally built disk (kernel + initrd beside it), or a verified cloud image. */
type BootImage = { kind: 'local'; disk: QemuDisk } | { kind: 'cloud'; image: CloudImage }
const LAN_HUB = packagePath('scripts/lib/providers/qemu/lan-hub.mjs')

async function waitFor(ok: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(what)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** QEMU user-mode networking: the guest's fixed address and gateway. */
const SLIRP = { address: '10.0.2.15/24', gateway: '10.0.2.2', dns: '10.0.2.3' }

export class QemuProvider implements Provider {
  readonly type = 'qemu' as const
  readonly rootless: boolean
  readonly accel: Accel
  private readonly state: StateStore
  private readonly names: ReturnType<typeof labNames>

  constructor(private readonly ctx: ProviderContext, options: { rootless?: boolean } = {}) {
    this.state = new StateStore(ctx.stateDir)
    this.names = labNames(ctx.config.name)
    this.rootless = options.rootless ?? process.getuid?.() !== 0
    const wanted = ctx.config.provider.qemu.accel
    this.accel = chooseAccel(wanted, { platform: process.platform, kvmUsable: wanted === 'auto' && process.platform !== 'darwin' && probeKvm().usable })
  }

  /**
   * The qemu traits refined: rootless VMs are on the LAN hub behind user-mode networking (no lab
   * namespace), TCG is software emulation, and a cloud image carries none of kubelab's image files.
   */
  info(): ProviderInfo {
    const base = providerTraits(this.type)
    return {
      ...base,
      type: this.type,
      labNetwork: base.labNetwork && !this.rootless,
      emulatedCpu: this.accel === 'tcg',
      imageFiles: this.ctx.config.provider.qemu.image ? [] : base.imageFiles,
    }
  }

  private paths(node: string): VmPaths {
    return vmPaths(this.ctx.stateDir, node)
  }

  async preflight(): Promise<PreflightCheck[]> {
    const checks: PreflightCheck[] = []
    const add = (name: string, ok: boolean, detail: string, fix: string, packages?: string[]) => checks.push({ name, ok, detail, ...(ok ? {} : { fix, ...(packages ? { packages } : {}) }) })
    const cloud = this.ctx.config.provider.qemu.image
    const tools: [string, string][] = [['qemu-system-x86_64', 'qemu-system-x86'], ['qemu-img', 'qemu-utils'], ['mkfs.ext4', 'e2fsprogs'], ['ssh-keygen', 'openssh-client']]
    if (cloud) tools.push(['genisoimage', 'genisoimage'])
    if (!this.rootless) tools.push(['ip', 'iproute2'], ['socat', 'socat'], ...(cloud ? [] : [['debootstrap', 'debootstrap'] as [string, string]]))
    for (const [tool, pkg] of tools) {
      const ok = await hostOk`command -v ${tool}`
      add(`command ${tool}`, ok, ok ? 'found' : 'not found', `apt-get install -y ${pkg}`, [pkg])
    }
    const kvm = probeKvm()
    const wanted = this.ctx.config.provider.qemu.accel
    if (this.accel === 'hvf') {
      const ok = process.platform === 'darwin' && (await hostOk`test "$(sysctl -n kern.hv_support)" = 1`)
      add('accelerator', ok, process.platform !== 'darwin' ? 'HVF exists only on macOS' : ok ? 'HVF' : 'kern.hv_support is not 1 (no Hypervisor.framework)', 'set provider.qemu.accel: tcg')
    } else if (wanted === 'kvm') {
      add('accelerator', kvm.usable, kvm.reason, 'set provider.qemu.accel: auto (TCG when KVM is missing)')
    } else {
      add('accelerator', true, this.accel === 'kvm' ? 'KVM' : `TCG software emulation (${kvm.reason}): 4-10x slower than KVM`, '')
    }
    if (!cloud && this.rootless && !existsSync(diskPaths(this.ctx.cacheDir).base)) {
      add('base image', false, `no base disk in ${diskPaths(this.ctx.cacheDir).dir}; building it needs root (debootstrap)`,
        'build it once as root with the same KUBELAB_CACHE (sudo -E npx kubelab up --machines-only), or set provider.qemu.image')
    }
    if (!this.rootless) checks.push(...await uplinkPreflight(this.ctx.config.egress.uplink))
    return checks
  }

  async ensure(nodes: readonly NodeSpec[]): Promise<Machine[]> {
    const { config, progress } = this.ctx
    // The image first: a refused download (sha256 mismatch) leaves no lab and no VM behind.
    const image = config.provider.qemu.image
    const boot: BootImage = image
      ? { kind: 'cloud', image: await ensureCloudImage(this.ctx.cacheDir, image, { progress }) }
      : {
          kind: 'local',
          disk: this.rootless
            ? diskPaths(this.ctx.cacheDir)
            : await ensureQemuDisk(this.ctx.cacheDir, { ...(config.provider.debianMirror ? { mirror: config.provider.debianMirror } : {}), progress }),
        }
    const key = await ensureClusterKey(this.ctx.stateDir)
    if (this.rootless) await this.ensureLanHub()
    else {
      await ensureLab(this.names.lab, `${config.provider.gateway}/${config.provider.network.split('/')[1]}`)
      await convergeUplink(this.names.lab, config.name, config.egress.uplink, this.state, this.type)
    }
    const hosts = Object.fromEntries(config.nodes.map((n) => [n.name, n.address]))
    const started: string[] = []
    // A running VM whose forwards differ (addons.registry turned on or off): only the forwarders are replaced.
    for (const n of nodes) {
      const rec = this.record(n.name)
      if (rec && !this.rootless && !this.running(n.name, rec) && processMatches(rec.pids.qemu, 'qemu-system', this.paths(n.name).disk)) {
        const p = this.paths(n.name)
        await stopForwards(p.dir, rec.pids)
        const fw = await startForwards(p.dir, { netns: this.names.lab, host: n.address }, forwardsFor(n, config.addons.registry), rec.forwards)
        this.state.update(config.name, this.type, (s) => {
          const m = s.machines[n.name]
          if (m) s.machines[n.name] = { ...m, pids: { qemu: m.pids.qemu!, ...fw.pids }, forwards: fw.ports }
        })
      }
    }
    const toStart = nodes.filter((n) => !this.running(n.name, this.record(n.name)))
    if (toStart.length && this.accel === 'tcg') progress.warn('QEMU runs under TCG (no usable KVM): VMs are 4-10x slower than with KVM')
    await Promise.all(toStart.map(async (node) => {
      await this.start(node, boot, key.publicKey, hosts)
      started.push(node.name)
    }))
    const machines = await this.list()
    await Promise.all(machines.filter((m) => started.includes(m.name)).map(async (m) => {
      const tail = () => logTail(this.paths(m.name).serial)
      await waitBooted(m, this.ctx.stateDir, progress, BOOT_DEADLINE_MS[this.accel], tail)
      if (boot.kind === 'cloud') await this.waitCloudInit(m, tail)
    }))
    return machines
  }

  /**
   * Cloud images: cloud-init has finished, where the image has it. Finished with errors is a
   * warning (SSH with the cluster key and the pinned host key already works, so the seed applied);
   * not finishing in time is a MachineError with the console tail.
   */
  private async waitCloudInit(m: Machine, tail: () => string[]): Promise<void> {
    const deadlineMs = BOOT_DEADLINE_MS[this.accel]
    const runner = await runnerFor(m, this.ctx.stateDir, { progress: this.ctx.progress, connect: { deadlineMs } })
    try {
      const r = await runner.$({ nothrow: true, timeoutMs: deadlineMs })`command -v cloud-init >/dev/null || exit 0; cloud-init status --wait --long`
      // 0: done; 1: error, 2: recoverable errors (cloud-init >= 23.4), both with a status line.
      const summary = (r.stdout + r.stderr).trim().split('\n').filter(Boolean).slice(0, 6).join(' | ')
      if (r.exitCode === 0) return
      if ((r.exitCode === 1 || r.exitCode === 2) && /^status: /m.test(r.stdout)) {
        this.ctx.progress.warn(`${m.name}: cloud-init finished with errors (${summary}); see /var/log/cloud-init.log on the node`)
        return
      }
      throw new MachineError(m.name, `cloud-init did not finish: ${summary || `exit ${r.exitCode}`}`, tail(),
        { hint: 'its logs on the node: /var/log/cloud-init.log, /var/log/cloud-init-output.log' })
    } finally {
      runner.close()
    }
  }

  private lanSocket(): string {
    return path.join(this.ctx.stateDir, 'lan.sock')
  }

  /** Rootless: the hub of the VMs' private network, started once per cluster. */
  private async ensureLanHub(): Promise<void> {
    const { config } = this.ctx
    const socket = this.lanSocket()
    if (processMatches(this.state.read(config.name, this.type).pids?.lanHub, 'lan-hub.mjs', socket)) return
    mkdirSync(this.ctx.stateDir, { recursive: true })
    const pid = spawnDetached(process.execPath, [LAN_HUB, socket], path.join(this.ctx.stateDir, 'lan-hub.log'))
    this.state.update(config.name, this.type, (s) => { s.pids = { ...s.pids, lanHub: pid } })
    await waitFor(() => existsSync(socket), 5_000, `the LAN hub did not start (${path.join(this.ctx.stateDir, 'lan-hub.log')})`)
  }

  private record(name: string): MachineRecord | undefined {
    return this.state.read(this.ctx.config.name, this.type).machines[name]
  }

  /** A machine's node as the forwards see it: its role, and its port mappings while the config lists it. */
  private nodeForwards(name: string, role: NodeSpec['role']): Pick<NodeSpec, 'role' | 'portMappings'> {
    return { role, portMappings: this.ctx.config.nodes.find((n) => n.name === name)?.portMappings ?? [] }
  }

  private running(name: string, rec: MachineRecord | undefined): boolean {
    const p = this.paths(name)
    if (!rec || !processMatches(rec.pids.qemu, 'qemu-system', p.disk)) return false
    return this.rootless || forwardsRunning(p.dir, rec.pids, forwardsFor(this.nodeForwards(name, rec.role), this.ctx.config.addons.registry))
  }

  private async start(node: NodeSpec, boot: BootImage, authorizedKey: string, hosts: Record<string, string>): Promise<void> {
    const { config } = this.ctx
    const p = this.paths(node.name)
    const prev = this.record(node.name)
    await this.stopProcesses(node.name, prev)
    mkdirSync(p.dir, { recursive: true })
    if (boot.kind === 'cloud') {
      await ensureCloudOverlay(boot.image, p.disk)
      writeSerconPort(p)
    } else {
      await ensureOverlayDisk(boot.disk.base, p)
    }
    const fingerprint = await ensureHostKey(p.hostKey, node.name)
    /** Cloud images: the same name, keys, hosts and addresses, as a cloud-init NoCloud seed. */
    const cloudSeed = (nics: NicConfig[]) => writeNocloudSeed(p.cidataDir, p.cidata, {
      instanceId: `kubelab-${config.name}-${node.name}`,
      hostname: node.name,
      authorizedKey,
      hostKey: { private: readFileSync(p.hostKey, 'utf8'), public: readFileSync(`${p.hostKey}.pub`, 'utf8') },
      hosts,
      nics,
    }).then(() => chmodSync(p.cidata, 0o600))
    const prefix = config.provider.network.split('/')[1]
    const sshPort = await freePort(prev?.forwards.ssh)
    const apiPort = this.rootless && node.role === 'control-plane' ? await freePort(prev?.forwards.apiserver) : undefined
    let net: VmNet
    if (this.rootless) {
      const hostfwd = { ssh: sshPort, ...(apiPort ? { apiserver: apiPort } : {}) }
      net = { mode: 'user', hostfwd: Object.entries(hostfwd).map(([name, port]) => ({ port, guest: name === 'ssh' ? 22 : 6443 })), mac: macFor(node.name), lan: { socket: this.lanSocket(), mac: macFor(`${node.name}/lan`) } }
      if (boot.kind === 'cloud') {
        await cloudSeed([
          { name: 'eth0', mac: net.mac, addresses: [SLIRP.address], gateway: SLIRP.gateway, nameservers: [SLIRP.dns] },
          { name: 'eth1', mac: net.lan.mac, addresses: [`${node.address}/${prefix}`] },
        ])
      } else {
        await writeSeed(p, { name: node.name, authorizedKey, hosts, network: networkScript(SLIRP.address, SLIRP.gateway, `${node.address}/${prefix}`), resolvConf: `nameserver ${SLIRP.dns}\noptions timeout:1 attempts:1\n` })
      }
    } else {
      const tap = vethName(node.name)
      if (!(await hostOk`ip -n ${this.names.lab} link show ${tap}`)) await host`ip -n ${this.names.lab} tuntap add dev ${tap} mode tap`
      await host`ip -n ${this.names.lab} link set ${tap} master ${BRIDGE} up`
      net = { mode: 'tap', tap, mac: macFor(node.name) }
      if (boot.kind === 'cloud') {
        await cloudSeed([{ name: 'eth0', mac: net.mac, addresses: [`${node.address}/${prefix}`], gateway: config.provider.gateway, nameservers: [config.provider.gateway] }])
      } else {
        await writeSeed(p, { name: node.name, authorizedKey, hosts, network: networkScript(`${node.address}/${prefix}`, config.provider.gateway), resolvConf: machineResolvConf(config) })
      }
    }
    rmSync(p.serial, { force: true })
    rmSync(p.pidFile, { force: true })
    const argv = qemuArgv({
      name: node.name, accel: this.accel, cpus: node.cpus, memoryMiB: node.memoryMiB,
      ...(boot.kind === 'local' ? { kernel: boot.disk.kernel, initrd: boot.disk.initrd } : { sercon: p.sercon }),
      disk: p.disk, seed: boot.kind === 'cloud' ? p.cidata : p.seed, serialLog: p.serial, pidFile: p.pidFile, net,
    })
    // -daemonize: QEMU returns once the VM runs; errors before that come back here.
    try {
      if (this.rootless) await host`qemu-system-x86_64 ${argv}`
      else await host`ip netns exec ${this.names.lab} qemu-system-x86_64 ${argv}`
    } catch (err) {
      throw new MachineError(node.name, 'QEMU did not start', logTail(p.serial), { cause: err })
    }
    const qemu = readPid(p)
    if (!qemu) throw new MachineError(node.name, `QEMU started but wrote no pid file (${p.pidFile})`, logTail(p.serial))
    let pids: Record<string, number> = { qemu }
    let forwards: Record<string, number> = { ssh: sshPort, ...(apiPort ? { apiserver: apiPort } : {}) }
    if (!this.rootless) {
      const fw = await startForwards(p.dir, { netns: this.names.lab, host: node.address }, forwardsFor(node, config.addons.registry), prev?.forwards)
      pids = { ...pids, ...fw.pids }
      forwards = fw.ports
    }
    this.state.update(config.name, this.type, (s) => {
      s.machines[node.name] = {
        address: node.address,
        role: node.role,
        pids,
        forwards,
        hostKeyFingerprint: fingerprint,
        createdAt: prev?.createdAt ?? new Date().toISOString(),
      }
    })
    const dial = this.rootless ? { host: '127.0.0.1', port: sshPort } : { path: p.sshSocket }
    await waitForSsh(node.name, dial, BOOT_DEADLINE_MS[this.accel], {
      alive: () => processMatches(qemu, 'qemu-system'), log: p.serial, exitedMessage: 'QEMU exited during boot',
    })
  }

  async list(): Promise<Machine[]> {
    const { config } = this.ctx
    return inConfigOrder(config, this.state.read(config.name, this.type).machines).map(([name, rec]) => {
      const p = this.paths(name)
      return madeMachine({
        name, rec, provider: this.type, stateDir: this.ctx.stateDir, hostKeyFile: p.hostKey,
        state: this.running(name, rec) ? 'running' : existsSync(p.disk) ? 'stopped' : 'missing',
        dial: this.rootless ? { host: '127.0.0.1', port: rec.forwards.ssh ?? 22 } : { socketPath: p.sshSocket, port: 22 },
      })
    })
  }

  private async stopProcesses(name: string, rec: MachineRecord | undefined): Promise<void> {
    if (!rec) return
    const p = this.paths(name)
    await stopProcess(rec.pids.qemu, ['qemu-system', p.disk], 10_000)
    await stopForwards(p.dir, rec.pids)
  }

  async stop(): Promise<void> {
    const machines = this.state.read(this.ctx.config.name, this.type).machines
    await Promise.all(Object.entries(machines).map(([name, rec]) => this.stopProcesses(name, rec)))
  }

  private async destroyOne(name: string): Promise<void> {
    const { config } = this.ctx
    await this.stopProcesses(name, this.record(name))
    if (!this.rootless) await host`ip -n ${this.names.lab} link del ${vethName(name)}`.catch(() => undefined)
    rmSync(this.paths(name).dir, { recursive: true, force: true })
    this.state.update(config.name, this.type, (s) => { delete s.machines[name] })
  }

  async destroy(names?: readonly string[]): Promise<void> {
    const { config } = this.ctx
    const targets = names ?? Object.keys(this.state.read(config.name, this.type).machines)
    await Promise.all(targets.map((n) => this.destroyOne(n)))
    const left = this.state.read(config.name, this.type)
    if (Object.keys(left.machines).length === 0) {
      await stopProcess(left.pids?.lanHub, ['lan-hub.mjs', this.lanSocket()], 2_000)
      if (!this.rootless) {
        await destroyUplink(this.names.lab, this.ctx.config.name, this.state, this.type)
        await removeNamespace(this.names.lab)
      }
      rmSync(this.ctx.stateDir, { recursive: true, force: true })
    }
  }

  async collectLogs(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true })
    for (const m of await this.list()) {
      const p = this.paths(m.name)
      if (existsSync(p.serial)) copyFileSync(p.serial, path.join(dir, `${m.name}.serial.log`))
    }
  }
}
