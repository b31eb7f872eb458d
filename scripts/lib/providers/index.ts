// Picks the provider for a config. `auto`: QEMU when KVM is usable, else nspawn machine containers
// (what `kubelab doctor` explains). Providers whose issue has not landed say so instead of pretending.

import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { ProviderType } from '../config/schema.ts'
import { NotImplementedError } from '../errors.ts'
import { defaultStateRoot } from './common/state.ts'
import { MultipassProvider } from './multipass/provider.ts'
import { NspawnProvider } from './nspawn/provider.ts'
import { SshProvider } from './ssh/provider.ts'
import type { Provider, ProviderContext } from './types.ts'

export interface KvmProbe {
  usable: boolean
  reason: string
}

/** KVM is usable when /dev/kvm opens read-write and the CPU offers hardware virtualisation. */
export function probeKvm(): KvmProbe {
  if (!existsSync('/dev/kvm')) return { usable: false, reason: 'no /dev/kvm' }
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch {
    return { usable: false, reason: '/dev/kvm is not accessible (add yourself to the kvm group)' }
  }
  const cpu = readFileSync('/proc/cpuinfo', 'utf8')
  if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(cpu)) {
    return { usable: false, reason: '/dev/kvm exists but the CPU offers no vmx/svm (no nested virtualisation)' }
  }
  return { usable: true, reason: '/dev/kvm is usable' }
}

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
    default:
      throw new NotImplementedError(`up with provider ${choice.type}`, 'lands with the machines issue; nspawn and ssh work today')
  }
}
