// kube-proxy:config — kube-proxy as a systemd service configured by a KubeProxyConfiguration file
// (mode from the config; conntrack left alone where the node cannot write it) with its own client
// certificate (system:kube-proxy, group system:node-proxier).

import { kubeProxyConfig } from '../templates/files.ts'
import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES } from '../templates/table.ts'
import { stepInfo } from './index.ts'
import { BIN_DIR } from './runtime-containerd.ts'
import { convergeService, serviceConverged, type ServiceSpec } from './service.ts'
import type { NodeHandle, Step, StepContext } from './types.ts'

function service(ctx: StepContext, node: NodeHandle): ServiceSpec {
  const cfg = INSTALLED_FILES['kube-proxy/kube-proxy-config.yaml']
  const unit = INSTALLED_FILES['systemd/kube-proxy.service']
  return {
    unit: 'kube-proxy.service',
    files: [
      { path: cfg.dest, content: kubeProxyConfig(ctx.config, node.substrate), mode: cfg.mode },
      { path: unit.dest, content: renderTemplate('systemd/kube-proxy.service', { binDir: BIN_DIR, nodeName: node.spec.name }), mode: unit.mode },
    ],
    localFiles: ctx.pki ? [ctx.pki.kubeProxyKubeconfig] : [],
    // kube-proxy answers on its health port once it runs (200 when synced, 503 before).
    health: 'curl -s -o /dev/null http://127.0.0.1:10256/healthz',
    healthTimeoutS: 60,
  }
}

export const kubeProxyStep: Step = {
  ...stepInfo('kube-proxy:config'),
  check: (ctx, node) => serviceConverged(node.runner, service(ctx, node)),
  apply: (ctx, node) => convergeService(node.runner, service(ctx, node)),
}
