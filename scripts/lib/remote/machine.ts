// A Runner for a Machine a provider returned: its SSH endpoint (UNIX socket or host:port), the
// credentials (the provider's own key, or the config's key file / key from .env / ssh-agent, and a
// bastion), host keys pinned by the config (nodes[].hostKey, ssh.bastion.hostKey, ssh.knownHosts)
// and the first-use pins kept in the cluster's state. When the provider made the machine's host
// key it knows the fingerprint, and that pin is authoritative too.

import os from 'node:os'
import path from 'node:path'
import type { ClusterConfig } from '../config/types.ts'
import type { Progress } from '../log/progress.ts'
import type { Machine } from '../providers/types.ts'
import type { SshAuth } from './connect.ts'
import { SshError } from './errors.ts'
import { JsonFileHostKeyStore } from './hostkeys.ts'
import { knownHostKeys, readKnownHosts, type HostKeyPins } from './known-hosts.ts'
import { SshRunner, type RunnerOptions } from './runner.ts'

const stores = new Map<string, JsonFileHostKeyStore>()

/** One store per state directory in this process: it serialises its own read-modify-write cycles. */
export function hostKeyStore(stateDir: string): JsonFileHostKeyStore {
  const file = path.join(stateDir, 'ssh', 'host-keys.json')
  let store = stores.get(file)
  if (!store) stores.set(file, (store = new JsonFileHostKeyStore(file)))
  return store
}

/**
 * What the config pins for one SSH target: its `hostKey` fingerprint and what `ssh.knownHosts`
 * lists for host:port. undefined when nothing does (the key is then trusted on first use).
 */
export function hostKeyPinsFor(config: ClusterConfig | undefined, what: string, host: string, port: number, hostKey?: string): HostKeyPins | undefined {
  const fingerprints: string[] = []
  const sources: string[] = []
  let revoked: string[] = []
  if (hostKey) {
    fingerprints.push(hostKey)
    sources.push(`${what}.hostKey in ${config?.file ?? 'the config'}`)
  }
  const file = config?.ssh.knownHosts
  if (file) {
    let entries
    try {
      entries = readKnownHosts(file) // read per runner: small, and edits apply at once
    } catch (err) {
      throw new SshError(what, 'BAD_TARGET', `ssh.knownHosts: ${(err as Error).message}`, { hint: 'the file was valid when the config was read; restore it or remove ssh.knownHosts' })
    }
    const k = knownHostKeys(entries, host, port)
    revoked = k.revoked
    if (k.fingerprints.length || k.revoked.length) sources.push(file)
    fingerprints.push(...k.fingerprints.filter((f) => !fingerprints.includes(f)))
  }
  return fingerprints.length || revoked.length ? { fingerprints, revoked, sources } : undefined
}

const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p)

/** Credentials for a machine: the provider's key when it made one, else what the config names. */
export function authFor(machine: Machine, config?: ClusterConfig): SshAuth {
  if (machine.ssh.privateKeyFile) return { privateKeyPath: machine.ssh.privateKeyFile, agent: false }
  const ssh = config?.ssh
  return {
    ...(config?.secrets.sshKey ? { privateKey: config.secrets.sshKey } : ssh?.keyFile ? { privateKeyPath: expandHome(ssh.keyFile) } : {}),
    ...(ssh?.agent ? {} : { agent: false as const }),
  }
}

export interface RunnerForOptions {
  config?: ClusterConfig
  progress?: Progress
  connect?: RunnerOptions['connect']
}

export async function runnerFor(machine: Machine, stateDir: string, options: RunnerForOptions = {}): Promise<SshRunner> {
  const hostKeys = hostKeyStore(stateDir)
  const known = machine.ssh.hostKeyFingerprint
  if (known && (await hostKeys.get(machine.name)) !== known) await hostKeys.set(machine.name, known)
  const auth = authFor(machine, options.config)
  const config = options.config
  const bastion = config?.ssh.bastion
  const host = machine.ssh.host ?? machine.name
  const pins = hostKeyPinsFor(config, `nodes[${machine.name}]`, host, machine.ssh.port, config?.nodes.find((n) => n.name === machine.name)?.hostKey)
  const bastionPins = bastion ? hostKeyPinsFor(config, 'ssh.bastion', bastion.host, bastion.port, bastion.hostKey) : undefined
  return new SshRunner({
    node: machine.name,
    target: {
      host,
      ...(machine.ssh.socketPath ? { socketPath: machine.ssh.socketPath } : {}),
      port: machine.ssh.port,
      user: machine.ssh.user,
      auth,
      ...(pins ? { hostKeyPins: pins } : {}),
      ...(bastion && !machine.ssh.socketPath
        ? { bastion: { host: bastion.host, port: bastion.port, user: bastion.user, auth, ...(bastionPins ? { hostKeyPins: bastionPins } : {}) } }
        : {}),
    },
    hostKeys,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.connect ? { connect: options.connect } : {}),
    resetCommand: (node) => `kubelab ssh-reset ${node}`,
    ...(machine.share ? { sharedDir: machine.share } : {}),
  })
}
