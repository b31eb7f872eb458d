// The Provider contract: one implementation per substrate (nspawn, qemu, multipass, ssh). Steps
// never know which provider made a machine: they get a Machine and an SSH endpoint.

import type { ClusterConfig, NodeSpec } from '../config/types.ts'
import type { PreflightCheck } from '../errors.ts'
import type { Progress } from '../log/progress.ts'
import type { ProviderType } from '../config/schema.ts'
import type { ProviderTraits } from './traits.ts'

/** How kubelab reaches a machine's sshd. Exactly one of `socketPath` or `host` is used. */
export interface SshEndpoint {
  /** A UNIX socket that leads to the machine's port 22 (local providers; no private address is dialled from the host). */
  socketPath?: string
  host?: string
  port: number
  user: string
  /** SHA256 fingerprint of the machine's host key when the provider knows it (it made the key). */
  hostKeyFingerprint?: string
  /** The host public key itself (`ssh-ed25519 AAAA...`), for an OpenSSH known_hosts line. */
  hostPublicKey?: string
  /** Private key file for the login (local providers: the cluster's own key). */
  privateKeyFile?: string
}

export type MachineState = 'running' | 'stopped' | 'missing'

export interface Machine {
  readonly name: string
  readonly role: NodeSpec['role']
  /** The node's address as other nodes see it. */
  readonly address: string
  readonly state: MachineState
  readonly provider: ProviderType
  readonly ssh: SshEndpoint
  /** 127.0.0.1 ports forwarded to the machine, by purpose (ssh, apiserver, ...). */
  readonly forwards: Readonly<Record<string, number>>
  /** A host folder the machine sees read-only (nspawn: the kubelab cache), so uploads from it are local copies. */
  readonly share?: { readonly hostPath: string; readonly nodePath: string }
}

export interface ProviderContext {
  readonly config: ClusterConfig
  /** This cluster's state directory (what kubelab made, pinned host keys, keys, logs). */
  readonly stateDir: string
  /** The host-wide cache (images, artifacts). */
  readonly cacheDir: string
  readonly progress: Progress
}

/**
 * What a provider's machines are like: the static traits of its type (traits.ts) refined by what
 * only the provider knows (QEMU: the accelerator, rootless networking, the image it boots). Code
 * outside providers/ asks this, never the provider's type or class.
 */
export interface ProviderInfo extends ProviderTraits {
  readonly type: Exclude<ProviderType, 'auto'>
}

export interface Provider {
  readonly type: ProviderType
  /** This provider's traits (pure: no host probe, no machine touched). */
  info(): ProviderInfo
  /** What this host lacks for this provider, each failed check with a one-line fix. Changes nothing. */
  preflight(): Promise<PreflightCheck[]>
  /** Creates the missing machines, starts stopped ones, reuses running ones. MUST be idempotent. */
  ensure(nodes: readonly NodeSpec[]): Promise<Machine[]>
  /** The machines of this cluster as they really are (state file entries checked against the world). */
  list(): Promise<Machine[]>
  /** Deletes the named machines (all when omitted) and everything made for them. */
  destroy(names?: readonly string[]): Promise<void>
  /** Stops the machines (a clean shutdown), keeping their disks, addresses and state: ensure() starts them again. */
  stop(): Promise<void>
  /** Copies console logs and provider logs into `dir`. */
  collectLogs(dir: string): Promise<void>
}
