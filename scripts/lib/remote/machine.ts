// A Runner for a Machine a provider returned: its SSH endpoint (UNIX socket or host:port), the
// credentials (the provider's own key, or the config's key file / key from .env / ssh-agent, and a
// bastion), and host-key pins kept in the cluster's state. When the provider made the machine's
// host key it knows the fingerprint, and that pin is authoritative.

import os from 'node:os'
import path from 'node:path'
import type { ClusterConfig } from '../config/types.ts'
import type { Progress } from '../log/progress.ts'
import type { Machine } from '../providers/types.ts'
import type { SshAuth } from './connect.ts'
import { JsonFileHostKeyStore } from './hostkeys.ts'
import { SshRunner, type RunnerOptions } from './runner.ts'

const stores = new Map<string, JsonFileHostKeyStore>()

/** One store per state directory in this process: it serialises its own read-modify-write cycles. */
export function hostKeyStore(stateDir: string): JsonFileHostKeyStore {
  const file = path.join(stateDir, 'ssh', 'host-keys.json')
  let store = stores.get(file)
  if (!store) stores.set(file, (store = new JsonFileHostKeyStore(file)))
  return store
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
  const bastion = options.config?.ssh.bastion
  return new SshRunner({
    node: machine.name,
    target: {
      host: machine.ssh.host ?? machine.name,
      ...(machine.ssh.socketPath ? { socketPath: machine.ssh.socketPath } : {}),
      port: machine.ssh.port,
      user: machine.ssh.user,
      auth,
      ...(bastion && !machine.ssh.socketPath ? { bastion: { host: bastion.host, port: bastion.port, user: bastion.user, auth } } : {}),
    },
    hostKeys,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.connect ? { connect: options.connect } : {}),
    resetCommand: (node) => `kubelab ssh-reset ${node}`,
    ...(machine.share ? { sharedDir: machine.share } : {}),
  })
}
