// runtime:containerd — containerd's config (built as data: cgroup driver matching kubelet's,
// sandbox image, CNI paths, restrict_oom_score_adj where the node needs it), its systemd unit,
// crictl's config and the node's CNI conflist; enabled, running, restarted only when a file changed.

import { cniConflist, containerdConfig, crictlConfig } from '../templates/files.ts'
import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES } from '../templates/table.ts'
import { differingFiles, writeFiles, type WantedFile } from './files.ts'
import { stepInfo } from './index.ts'
import type { NodeHandle, Step } from './types.ts'

export const BIN_DIR = '/usr/local/bin'

function files(node: NodeHandle): WantedFile[] {
  const t = INSTALLED_FILES
  return [
    { path: t['containerd/config.toml'].dest, content: containerdConfig(node.substrate), mode: t['containerd/config.toml'].mode },
    { path: t['systemd/containerd.service'].dest, content: renderTemplate('systemd/containerd.service', { binDir: BIN_DIR }), mode: t['systemd/containerd.service'].mode },
    { path: t['crictl.yaml'].dest, content: crictlConfig(), mode: t['crictl.yaml'].mode },
    { path: t['cni/net.d/10-bridge.conflist'].dest, content: cniConflist(node.spec), mode: t['cni/net.d/10-bridge.conflist'].mode },
  ]
}

export const runtimeContainerd: Step = {
  ...stepInfo('runtime:containerd'),
  async check(_ctx, node) {
    if ((await differingFiles(node.runner, files(node))).length > 0) return false
    return node.runner.test`systemctl is-enabled --quiet containerd && systemctl is-active --quiet containerd && ${BIN_DIR}/ctr version >/dev/null 2>&1`
  },
  async apply(_ctx, node) {
    const changed = await writeFiles(node.runner, files(node))
    await node.runner.$`mkdir -p /opt/cni/bin /etc/cni/net.d /var/lib/containerd`
    if (changed.some((p) => p.endsWith('.service'))) await node.runner.$`systemctl daemon-reload`
    await node.runner.$`systemctl enable --quiet containerd`
    if (changed.length > 0) await node.runner.$`systemctl restart containerd`
    else await node.runner.$`systemctl start containerd`
    // containerd answers on its socket a moment after systemd calls it started.
    await node.runner.$`for i in $(seq 50); do ${BIN_DIR}/ctr version >/dev/null 2>&1 && exit 0; sleep 0.2; done; ${BIN_DIR}/ctr version`
  },
}
