// os:prep — kernel modules and sysctls a node needs (overlay, br_netfilter, ip_forward,
// bridge-nf-call-*), written to /etc so they persist across reboots, and applied now.
// Swap is tolerated (KubeletConfiguration failSwapOn: false, NoSwap).

import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES } from '../templates/table.ts'
import { differingFiles, writeFiles, type WantedFile } from '../converge/files.ts'
import type { Step } from '../converge/step.ts'

const FILES: WantedFile[] = (['modules-load.d/kubelab.conf', 'sysctl.d/99-kubelab.conf'] as const).map((name) => ({
  path: INSTALLED_FILES[name].dest,
  content: renderTemplate(name, {}),
  mode: INSTALLED_FILES[name].mode,
}))

/** True when the features are there (module loaded or built in) and the sysctls hold. */
const LIVE_CHECK = `
grep -qw overlay /proc/filesystems || exit 1
[ -d /proc/sys/net/bridge ] || exit 1
[ "$(sysctl -n net.ipv4.ip_forward)" = 1 ] || exit 1
[ "$(sysctl -n net.bridge.bridge-nf-call-iptables)" = 1 ] || exit 1
[ "$(sysctl -n net.bridge.bridge-nf-call-ip6tables)" = 1 ] || exit 1
`

export const osPrep: Step = {
  id: 'os:prep',
  title: 'Preparing the OS (kernel modules, sysctls, swap, iptables backend)',
  on: 'all',
  async check(_ctx, node) {
    if ((await differingFiles(node.runner, FILES)).length > 0) return false
    return node.runner.testScript(LIVE_CHECK)
  },
  async apply(_ctx, node) {
    await writeFiles(node.runner, FILES)
    // Machine containers share the host's kernel: modules may be built in or loaded by the host.
    await node.runner.$`grep -qw overlay /proc/filesystems || modprobe overlay; [ -d /proc/sys/net/bridge ] || modprobe br_netfilter`
    await node.runner.$`sysctl -q --load=${FILES[1]!.path}`
  },
}
