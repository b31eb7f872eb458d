// What each provider type's machines are like, as a pure table by provider.type: for the code that
// asks before any Provider exists (config validation and resolution, allocations, conformance, the
// logs bundle) and as the base of every Provider's info(). Imports no provider implementation, so
// config/ can use it without pulling the providers in; index.ts stays the one place that maps types
// to classes.

import type { ProviderType } from '../config/schema.ts'
import type { InstalledFile } from '../templates/table.ts'

/** A set of files baked into a node image instead of installed by the steps (templates/table.ts `on`). */
export type ImageFiles = Extract<InstalledFile['on'], `${string}-image`>

export interface ProviderTraits {
  /** kubelab creates and destroys the machines (nspawn, qemu, multipass); false: they exist already (ssh). */
  readonly makesMachines: boolean
  /**
   * kubelab picks each node's address from provider.network (nspawn, qemu); false: the machines
   * come with their own (multipass assigns them, ssh hosts have theirs), so the config's addresses
   * are the provider's business.
   */
  readonly assignsAddresses: boolean
  /**
   * The machines sit on a bridge inside a lab network namespace kubelab made (`kubelab-<cluster>`),
   * reached from the host only through `ip netns exec` or 127.0.0.1 forwards (nspawn; qemu as root).
   * False: the machines are on a network of the host's (ssh, multipass), or (rootless qemu) on a
   * private hub behind user-mode networking, with no namespace at all.
   */
  readonly labNetwork: boolean
  /**
   * Guest code runs under software CPU emulation (QEMU TCG): everything is several times slower,
   * so waits should be scaled. Depends on the accelerator, known only once a provider exists:
   * false in the static table.
   */
  readonly emulatedCpu: boolean
  /** The baked image files the machines carry (none where kubelab built no image for them). */
  readonly imageFiles: readonly ImageFiles[]
}

const TRAITS: Readonly<Record<ProviderType, ProviderTraits>> = {
  nspawn: { makesMachines: true, assignsAddresses: true, labNetwork: true, emulatedCpu: false, imageFiles: ['node-image', 'nspawn-image'] },
  // As root. Rootless QEMU has no lab namespace, and a cloud image (provider.qemu.image) none of
  // kubelab's image files: QemuProvider.info() says so.
  qemu: { makesMachines: true, assignsAddresses: true, labNetwork: true, emulatedCpu: false, imageFiles: ['node-image', 'qemu-image'] },
  multipass: { makesMachines: true, assignsAddresses: false, labNetwork: false, emulatedCpu: false, imageFiles: [] },
  ssh: { makesMachines: false, assignsAddresses: false, labNetwork: false, emulatedCpu: false, imageFiles: [] },
  // What auto resolves to: nspawn or qemu. Both make machines, assign addresses and use the lab
  // namespace, so those traits agree; the image files are either image's.
  auto: { makesMachines: true, assignsAddresses: true, labNetwork: true, emulatedCpu: false, imageFiles: ['node-image', 'nspawn-image', 'qemu-image'] },
}

/** The static traits of a provider type (no provider object, no host probe). */
export function providerTraits(type: ProviderType): ProviderTraits {
  return TRAITS[type]
}
