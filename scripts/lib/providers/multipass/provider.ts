// The multipass provider: Ubuntu instances launched through the multipass CLI, configured by a
// cloud-init file that authorizes the cluster's key. Argument building is pure (unit-tested);
// the CLI calls run only where multipass exists.

import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { stringify } from 'yaml'
import type { NodeSpec } from '../../config/types.ts'
import type { PreflightCheck } from '../../errors.ts'
import { host, hostOk } from '../../host/exec.ts'
import { ensureClusterKey } from '../common/keys.ts'
import { StateStore } from '../common/state.ts'
import { providerTraits } from '../traits.ts'
import type { Machine, Provider, ProviderContext, ProviderInfo } from '../types.ts'

/** Instance names are host-wide in multipass: prefix them with the cluster. */
export const instanceName = (cluster: string, node: string) => `${cluster}-${node}`

export function launchArgs(o: { image: string; instance: string; cpus: number; memoryMiB: number; cloudInit: string }): string[] {
  return ['launch', o.image, '--name', o.instance, '--cpus', String(o.cpus), '--memory', `${o.memoryMiB}M`,
    '--disk', '20G', '--cloud-init', o.cloudInit, '--timeout', '900']
}

/** cloud-init user-data: the default user (ubuntu) gets the cluster's key; the hostname is the node's. */
export function cloudInit(node: string, publicKey: string): string {
  return `#cloud-config\n${stringify({
    hostname: node,
    manage_etc_hosts: true,
    users: ['default'],
    ssh_authorized_keys: [publicKey],
    package_update: false,
  })}`
}

interface MultipassInfo {
  info?: Record<string, { state?: string; ipv4?: string[] }>
}

export function parseInfo(json: string, instance: string): { state: string; ipv4?: string } | undefined {
  const i = (JSON.parse(json) as MultipassInfo).info?.[instance]
  if (!i) return undefined
  return { state: (i.state ?? 'unknown').toLowerCase(), ...(i.ipv4?.[0] ? { ipv4: i.ipv4[0] } : {}) }
}

export class MultipassProvider implements Provider {
  readonly type = 'multipass' as const
  private readonly state: StateStore

  constructor(private readonly ctx: ProviderContext) {
    this.state = new StateStore(ctx.stateDir)
  }

  info(): ProviderInfo {
    return { type: this.type, ...providerTraits(this.type) }
  }

  async preflight(): Promise<PreflightCheck[]> {
    const ok = await hostOk`command -v multipass`
    return [{ name: 'command multipass', ok, detail: ok ? 'found' : 'not found', ...(ok ? {} : { fix: 'install multipass (snap install multipass), or use provider nspawn/qemu' }) }]
  }

  private async instanceInfo(instance: string): Promise<{ state: string; ipv4?: string } | undefined> {
    const r = await host`multipass info ${instance} --format json`.catch(() => undefined)
    return r ? parseInfo(r.stdout, instance) : undefined
  }

  async ensure(nodes: readonly NodeSpec[]): Promise<Machine[]> {
    const { config } = this.ctx
    const key = await ensureClusterKey(this.ctx.stateDir)
    const dir = path.join(this.ctx.stateDir, 'cloud-init')
    mkdirSync(dir, { recursive: true })
    await Promise.all(nodes.map(async (n) => {
      const instance = instanceName(config.name, n.name)
      const info = await this.instanceInfo(instance)
      if (info?.state === 'running') return
      if (info) { await host`multipass start ${instance}`; return }
      const file = path.join(dir, `${n.name}.yaml`)
      writeFileSync(file, cloudInit(n.name, key.publicKey))
      // Recorded before launching, so that `down` also removes a half-made instance.
      this.state.update(config.name, this.type, (s) => {
        s.machines[n.name] ??= { address: '', role: n.role, pids: {}, forwards: {}, createdAt: new Date().toISOString() }
      })
      await host`multipass ${launchArgs({ image: config.provider.multipass.image, instance, cpus: n.cpus, memoryMiB: n.memoryMiB, cloudInit: file })}`
    }))
    return this.list()
  }

  async list(): Promise<Machine[]> {
    const { config } = this.ctx
    const known = this.state.read(config.name, this.type).machines
    return Promise.all(Object.entries(known).map(async ([name, rec]) => {
      const info = await this.instanceInfo(instanceName(config.name, name))
      return {
        name,
        role: rec.role,
        address: info?.ipv4 ?? '',
        state: info?.state === 'running' ? 'running' : info ? 'stopped' : 'missing',
        provider: this.type,
        ssh: { host: info?.ipv4 ?? '', port: 22, user: 'ubuntu', privateKeyFile: path.join(this.ctx.stateDir, 'ssh', 'id_ed25519') },
        forwards: {},
      } satisfies Machine
    }))
  }

  async stop(): Promise<void> {
    const { config } = this.ctx
    for (const n of Object.keys(this.state.read(config.name, this.type).machines)) {
      const instance = instanceName(config.name, n)
      if (await this.instanceInfo(instance)) await host`multipass stop ${instance}`
    }
  }

  async destroy(names?: readonly string[]): Promise<void> {
    const { config } = this.ctx
    const targets = names ?? Object.keys(this.state.read(config.name, this.type).machines)
    for (const n of targets) {
      const instance = instanceName(config.name, n)
      if (await this.instanceInfo(instance)) await host`multipass delete --purge ${instance}`
      this.state.update(config.name, this.type, (s) => { delete s.machines[n] })
    }
    if (Object.keys(this.state.read(config.name, this.type).machines).length === 0 && existsSync(this.ctx.stateDir)) {
      rmSync(this.ctx.stateDir, { recursive: true, force: true })
    }
  }

  async collectLogs(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true })
    for (const m of await this.list()) {
      const r = await host`multipass exec ${instanceName(this.ctx.config.name, m.name)} -- sudo cat /var/log/cloud-init-output.log`.catch(() => undefined)
      if (r) writeFileSync(path.join(dir, `${m.name}.cloud-init.log`), r.stdout)
    }
  }
}
