// kubelet:config — kubelet as a systemd service configured by a KubeletConfiguration file (built as
// data from the node's detected substrate), the cluster CA, and, until the node has joined, a
// bootstrap kubeconfig holding the join token (TLS bootstrapping: kubelet makes its own CSR).
// With an external control plane the CA is the one join:discovery pinned and installed.

import { kubeconfig } from '../pki/kubeconfig.ts'
import { kubeletConfig } from '../templates/files.ts'
import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES } from '../templates/table.ts'
import { stepInfo } from './index.ts'
import { BIN_DIR } from './runtime-containerd.ts'
import { externalToken } from './join-discovery.ts'
import { CA_FILE } from './node-api.ts'
import { convergeService, serviceConverged, type ServiceSpec } from './service.ts'
import type { NodeHandle, Step, StepContext } from './types.ts'

export const BOOTSTRAP_KUBECONFIG = '/var/lib/kubelet/bootstrap-kubeconfig'

function service(ctx: StepContext, node: NodeHandle): ServiceSpec {
  const cfg = INSTALLED_FILES['kubelet/kubelet-config.yaml']
  const unit = INSTALLED_FILES['systemd/kubelet.service']
  return {
    unit: 'kubelet.service',
    files: [
      { path: cfg.dest, content: kubeletConfig(ctx.config, node.spec, node.substrate), mode: cfg.mode },
      { path: unit.dest, content: renderTemplate('systemd/kubelet.service', { binDir: BIN_DIR, nodeName: node.spec.name, nodeIP: node.spec.address }), mode: unit.mode },
    ],
    localFiles: ctx.pki ? [ctx.pki.ca] : [],
    health: '[ "$(curl -sf http://127.0.0.1:10248/healthz)" = ok ]',
    healthTimeoutS: 60,
  }
}

/** The bootstrap kubeconfig: kubelab's own token and CA, or (external) the configured token and the discovered CA. */
async function bootstrapKubeconfig(ctx: StepContext, node: NodeHandle): Promise<string> {
  const cp = ctx.config.controlPlane
  if (cp.mode === 'external') {
    const caPem = (await node.runner.$`cat ${CA_FILE}`).stdout
    return kubeconfig({ clusterName: ctx.config.name, server: cp.endpoint, caPem }, 'kubelet-bootstrap', { token: externalToken(ctx) })
  }
  const token = ctx.shared.joinToken
  if (!token || !ctx.pki) throw new Error('no join token: cp:bootstrap makes one before kubelet:config runs')
  return ctx.pki.bootstrapKubeconfig(token)
}

export const kubeletStep: Step = {
  ...stepInfo('kubelet:config'),
  async check(ctx, node) {
    const joinedOrReady = await node.runner.test`test -s /var/lib/kubelet/kubeconfig || test -s ${BOOTSTRAP_KUBECONFIG}`
    return joinedOrReady && serviceConverged(node.runner, service(ctx, node))
  },
  async apply(ctx, node) {
    if (!(await node.runner.test`test -s /var/lib/kubelet/kubeconfig`)) {
      await node.runner.writeFile(BOOTSTRAP_KUBECONFIG, await bootstrapKubeconfig(ctx, node), 0o600)
    }
    await node.runner.$`install -d -m 700 /var/lib/kubelet/pki`
    await convergeService(node.runner, service(ctx, node))
  },
}
