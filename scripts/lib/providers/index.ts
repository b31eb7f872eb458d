// Picks the provider for a config. `auto`: QEMU when KVM is usable, else nspawn machine containers
// (what `kubelab doctor` explains). Providers whose issue has not landed say so instead of pretending.

import path from 'node:path'
import type { ProviderType } from '../config/schema.ts'
import { defaultStateRoot } from './common/state.ts'
import { MultipassProvider } from './multipass/provider.ts'
import { probeKvm, type KvmProbe } from './kvm.ts'
import { NspawnProvider } from './nspawn/provider.ts'
import { QemuProvider } from './qemu/provider.ts'
import { SshProvider } from './ssh/provider.ts'
import type { Provider, ProviderContext } from './types.ts'

export interface ProviderChoice {
  type: Exclude<ProviderType, 'auto'>
  why: string
}

export function chooseProvider(configured: ProviderType, kvm: KvmProbe = probeKvm()): ProviderChoice {
  if (configured !== 'auto') return { type: configured, why: `provider.type is "${configured}"` }
  return kvm.usable
    ? { type: 'qemu', why: `auto: ${kvm.reason}, so QEMU VMs with KVM` }
    : { type: 'nspawn', why: `auto: ${kvm.reason}, so nspawn machine containers` }
}

/** The state directory of a cluster: $KUBELAB_STATE/<name> (default ~/.local/state/kubelab/<name>). */
export function clusterStateDir(name: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  return path.join(defaultStateRoot(env), name)
}

export function createProvider(choice: ProviderChoice, ctx: ProviderContext): Provider {
  switch (choice.type) {
    case 'nspawn':
      return new NspawnProvider(ctx)
    case 'ssh':
      return new SshProvider(ctx)
    case 'multipass':
      return new MultipassProvider(ctx)
    case 'qemu':
      return new QemuProvider(ctx)
  }
}

export { probeKvm, type KvmProbe }
