// kube-proxy:config — kube-proxy as a systemd service configured by a KubeProxyConfiguration file
// (mode from the config; conntrack left alone where the node cannot write it) with its own client
// certificate (system:kube-proxy, group system:node-proxier); with an external control plane, the
// node's own kubelet credentials, checked for the rights kube-proxy needs before it starts.

import { kubeProxyConfig } from '../templates/files.ts'
import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES } from '../templates/table.ts'
import { JoinError } from '../errors.ts'
import { convergeService, serviceConverged, type ServiceSpec } from '../converge/service.ts'
import type { Step, StepContext } from '../converge/step.ts'
import { nodeApi } from '../node/api.ts'
import { BIN_DIR } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'

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
    // Healthy = its first sync is done (200; 503 before): Service rules are in place for pods.
    health: 'curl -sf -o /dev/null http://127.0.0.1:10256/healthz',
    healthTimeoutS: 60,
  }
}

/** External control plane: may this node's identity do what kube-proxy does? Else a JoinError saying how to allow it. */
async function requireProxierRights(ctx: StepContext, node: NodeHandle): Promise<void> {
  const cp = ctx.config.controlPlane
  if (cp.mode !== 'external') return
  const review = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { group: 'discovery.k8s.io', resource: 'endpointslices', verb: 'watch' } },
  }
  const r = await nodeApi(node, cp.endpoint, { kind: 'node' }, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', review)
  const allowed = r.status === 201 && (JSON.parse(r.body) as { status?: { allowed?: boolean } }).status?.allowed === true
  if (!allowed) {
    throw new JoinError(`kube-proxy on ${node.spec.name} runs with the node's own credentials, and ${cp.endpoint} does not let system:node:${node.spec.name} watch EndpointSlices${r.status === 201 ? '' : ` (HTTP ${r.status || r.error})`}`, {
      hint: 'on the control plane: kubectl create clusterrolebinding kubelab:node-proxier --clusterrole=system:node-proxier --group=system:nodes (kubelab control planes have it)',
    })
  }
}

export const kubeProxyStep: Step = {
  id: 'kube-proxy:config',
  title: 'Configuring kube-proxy',
  on: 'all',
  // kube-proxy reads its own Node object at start.
  after: ['join:node'],
  check: (ctx, node) => serviceConverged(node.runner, service(ctx, node)),
  async apply(ctx, node) {
    await requireProxierRights(ctx, node)
    await convergeService(node.runner, service(ctx, node))
  },
}
