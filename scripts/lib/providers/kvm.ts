// Whether KVM can be used on this host: /dev/kvm opens read-write and the CPU offers hardware
// virtualisation (a /dev/kvm node alone is not enough: nested guests may have one without vmx/svm).

import { accessSync, constants, existsSync, readFileSync } from 'node:fs'

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
