// kubelet:config — kubelet as a systemd service configured by a KubeletConfiguration file (built as
// data from the node's detected substrate), the cluster CA, and, until the node has joined, a
// bootstrap kubeconfig holding the join token (TLS bootstrapping: kubelet makes its own CSR).
// It starts once the token's Secret exists and CSRs get signed (join:token, csr:signing): kubelet's
// certificate manager backs off exponentially (2 s, 4 s, 8 s, ...) after each refused CSR, and its
// node registration too (up to 7 s) while it has no certificate, so starting it earlier makes the
// join slower, not faster. Everything before it on the node runs while the control plane comes up.
// With an external control plane the CA is the one join:discovery pinned and installed.

import { convergeService, serviceConverged, type ServiceSpec } from '../converge/service.ts'
import { sha256 } from '../converge/files.ts'
import type { Step, StepContext } from '../converge/step.ts'
import { hasJoined as joined } from '../node/joined.ts'
import { BIN_DIR, BOOTSTRAP_KUBECONFIG, CA_FILE, KUBELET_PKI_DIR } from '../node/paths.ts'
import { externalToken } from '../node/api.ts'
import type { NodeHandle } from '../node/types.ts'
import { kubeconfig } from '../pki/kubeconfig.ts'
import { proxyDropIn } from '../egress/proxy.ts'
import { kubeletConfig } from '../templates/files.ts'
import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES } from '../templates/table.ts'

function service(ctx: StepContext, node: NodeHandle): ServiceSpec {
  const cfg = INSTALLED_FILES['kubelet/kubelet-config.yaml']
  const unit = INSTALLED_FILES['systemd/kubelet.service']
  const proxy = INSTALLED_FILES['systemd/kubelet.service.d/kubelab-proxy.conf']
  return {
    unit: 'kubelet.service',
    files: [
      { path: cfg.dest, content: kubeletConfig(ctx.config, node.spec, node.substrate), mode: cfg.mode },
      { path: unit.dest, content: renderTemplate('systemd/kubelet.service', { binDir: BIN_DIR, nodeName: node.spec.name, nodeIP: node.spec.address }), mode: unit.mode },
      { path: proxy.dest, content: proxyDropIn(ctx.config), mode: proxy.mode },
    ],
    localFiles: ctx.pki ? [ctx.pki.ca] : [],
    health: '[ "$(curl -sf http://127.0.0.1:10248/healthz)" = ok ]',
    healthTimeoutS: 60,
  }
}

/** The bootstrap kubeconfig: the cluster's join token and CA, or (external) the configured token and the discovered CA. */
async function bootstrapKubeconfig(ctx: StepContext, node: NodeHandle): Promise<string | undefined> {
  const cp = ctx.config.controlPlane
  if (cp.mode === 'external') {
    const ca = await node.runner.$({ nothrow: true })`cat ${CA_FILE}`
    return ca.ok ? kubeconfig({ clusterName: ctx.config.name, server: cp.endpoint, caPem: ca.stdout }, 'kubelet-bootstrap', { token: externalToken(ctx.config) }) : undefined
  }
  return ctx.joinToken && ctx.pki ? ctx.pki.bootstrapKubeconfig(ctx.joinToken.token) : undefined
}

/** Until the node has joined: is its bootstrap kubeconfig the wanted one (the current token)? */
async function bootstrapCurrent(ctx: StepContext, node: NodeHandle): Promise<boolean> {
  const want = await bootstrapKubeconfig(ctx, node)
  return want !== undefined && node.runner.test`[ "$(sha256sum < ${BOOTSTRAP_KUBECONFIG} 2>/dev/null | cut -d' ' -f1)" = ${sha256(want)} ]`
}

export const kubeletStep: Step = {
  id: 'kubelet:config',
  title: 'Configuring kubelet (TLS bootstrap)',
  on: 'all',
  // The sandbox image first: every pod needs it (workload images come beside the join).
  after: ['runtime:images', 'runtime:registries', 'pki:certs', 'join:discovery'],
  waitsFor: ['join:token', 'csr:signing'],
  async check(ctx, node) {
    return ((await joined(node)) || (await bootstrapCurrent(ctx, node))) && serviceConverged(node.runner, service(ctx, node))
  },
  async apply(ctx, node) {
    let tokenChanged = false
    if (!(await joined(node)) && !(await bootstrapCurrent(ctx, node))) {
      const text = await bootstrapKubeconfig(ctx, node)
      if (text === undefined) throw new Error('no bootstrap kubeconfig can be made: no join token (managed) or no installed CA (external)')
      await node.runner.writeFile(BOOTSTRAP_KUBECONFIG, text, 0o600)
      tokenChanged = true
    }
    await node.runner.$`install -d -m 700 ${KUBELET_PKI_DIR}`
    const restarted = await convergeService(node.runner, service(ctx, node))
    // A kubelet still bootstrapping with an older token starts over with the new one.
    if (tokenChanged && !restarted) await node.runner.$`systemctl restart kubelet.service`
  },
}
