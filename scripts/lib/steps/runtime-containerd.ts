// runtime:containerd — containerd's config (built as data: cgroup driver matching kubelet's,
// sandbox image, CNI paths, restrict_oom_score_adj where the node needs it), its systemd unit,
// its proxy drop-in (egress.proxy), crictl's config and the node's CNI conflist; enabled, running, restarted only when a file changed.

import { cniConflist, containerdConfig, crictlConfig } from '../templates/files.ts'
import { proxyDropIn } from '../egress/proxy.ts'
import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES } from '../templates/table.ts'
import type { WantedFile } from '../converge/files.ts'
import { convergeService, serviceConverged, type ServiceSpec } from '../converge/service.ts'
import type { Step } from '../converge/step.ts'
import { BIN_DIR, CTR } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'
import type { ClusterConfig } from '../config/types.ts'

function files(config: ClusterConfig, node: NodeHandle): WantedFile[] {
  const t = INSTALLED_FILES
  const auth = config.secrets.registryAuth
  return [
    // With registry credentials in it, config.toml is root's alone.
    { path: t['containerd/config.toml'].dest, content: containerdConfig(node.substrate, auth), mode: auth ? 0o600 : t['containerd/config.toml'].mode },
    { path: t['systemd/containerd.service'].dest, content: renderTemplate('systemd/containerd.service', { binDir: BIN_DIR }), mode: t['systemd/containerd.service'].mode },
    { path: t['systemd/containerd.service.d/kubelab-proxy.conf'].dest, content: proxyDropIn(config), mode: t['systemd/containerd.service.d/kubelab-proxy.conf'].mode },
    { path: t['crictl.yaml'].dest, content: crictlConfig(), mode: t['crictl.yaml'].mode },
    { path: t['cni/net.d/10-bridge.conflist'].dest, content: cniConflist(node.spec), mode: t['cni/net.d/10-bridge.conflist'].mode },
  ]
}

function service(config: ClusterConfig, node: NodeHandle): ServiceSpec {
  return { unit: 'containerd.service', files: files(config, node), health: `${CTR} version`, healthTimeoutS: 30 }
}

export const runtimeContainerd: Step = {
  id: 'runtime:containerd',
  title: 'Installing containerd, runc and CNI plugins',
  on: 'all',
  after: ['os:prep', 'artifacts:upload'],
  check: (ctx, node) => serviceConverged(node.runner, service(ctx.config, node)),
  async apply(ctx, node) {
    await node.runner.$`mkdir -p /opt/cni/bin /etc/cni/net.d /var/lib/containerd`
    await convergeService(node.runner, service(ctx.config, node))
  },
}
