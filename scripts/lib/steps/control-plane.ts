// The managed control plane on the control-plane node, as systemd services (templates/systemd/):
// cp:etcd, cp:apiserver, cp:controller-manager, cp:scheduler. Each is converged by the service
// helper: its unit, the PKI files it reads, running, healthy, restarted only when an input changed.
// Ready = its health endpoint answers (/readyz for the API server).

import type { TemplateValues } from '../templates/render.ts'
import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES, type InstalledFileName } from '../templates/table.ts'
import { convergeService, serviceConverged, type ServiceSpec } from '../converge/service.ts'
import type { Step, StepContext } from '../converge/step.ts'
import { BIN_DIR, PKI_DIR as PKI } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'

interface Component extends Pick<Step, 'id' | 'title' | 'after' | 'establishes'> {
  template: InstalledFileName
  values(ctx: StepContext, node: NodeHandle): TemplateValues
  health: string
  healthTimeoutS: number
}

const COMPONENTS: Component[] = [
  {
    id: 'cp:etcd',
    title: 'Starting etcd',
    after: ['artifacts:upload', 'pki:certs'],
    template: 'systemd/etcd.service',
    values: (_ctx, node) => ({ binDir: BIN_DIR, nodeName: node.spec.name, nodeIP: node.spec.address }),
    health: `${BIN_DIR}/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=${PKI}/etcd/ca.crt --cert=${PKI}/apiserver-etcd-client.crt --key=${PKI}/apiserver-etcd-client.key endpoint health`,
    healthTimeoutS: 60,
  },
  {
    id: 'cp:apiserver',
    title: 'Starting kube-apiserver',
    // Started beside etcd, as kubeadm's static pods are: it retries etcd until that answers, and
    // its /readyz (the health below) includes etcd.
    after: ['artifacts:upload', 'pki:certs'],
    establishes: 'api:serving',
    template: 'systemd/kube-apiserver.service',
    values: (ctx, node) => ({ binDir: BIN_DIR, nodeIP: node.spec.address, serviceCIDR: ctx.config.kubernetes.serviceCIDR, clusterDomain: ctx.config.kubernetes.clusterDomain }),
    health: `[ "$(curl -sf --cacert ${PKI}/ca.crt https://127.0.0.1:6443/readyz)" = ok ]`,
    healthTimeoutS: 120,
  },
  {
    id: 'cp:controller-manager',
    title: 'Starting kube-controller-manager',
    after: ['cp:apiserver'],
    establishes: 'csr:signing',
    template: 'systemd/kube-controller-manager.service',
    values: (ctx) => ({ binDir: BIN_DIR, clusterCIDR: ctx.config.kubernetes.clusterCIDR, clusterName: ctx.config.name, serviceCIDR: ctx.config.kubernetes.serviceCIDR }),
    // Healthy = its CSR controllers run (they appear in /healthz?verbose once started, seconds after
    // the process answers): nodes start kubelet only then, so their first CSR is answered at once.
    health: 'h=$(curl -skf "https://127.0.0.1:10257/healthz?verbose")'
      + ' && printf %s "$h" | grep -q "^\\[+\\]certificatesigningrequest-approving-controller ok"'
      + ' && printf %s "$h" | grep -q "^\\[+\\]certificatesigningrequest-signing-controller ok"',
    healthTimeoutS: 60,
  },
  {
    id: 'cp:scheduler',
    title: 'Starting kube-scheduler',
    after: ['cp:apiserver'],
    template: 'systemd/kube-scheduler.service',
    values: () => ({ binDir: BIN_DIR }),
    health: '[ "$(curl -skf https://127.0.0.1:10259/healthz)" = ok ]',
    healthTimeoutS: 60,
  },
]

function service(c: Component, ctx: StepContext, node: NodeHandle): ServiceSpec {
  const t = INSTALLED_FILES[c.template]
  return {
    unit: t.dest.split('/').pop()!,
    files: [{ path: t.dest, content: renderTemplate(c.template, c.values(ctx, node)), mode: t.mode }],
    // Every control-plane PKI file: a re-issued certificate restarts the components that read it.
    localFiles: ctx.pki?.files('control-plane') ?? [],
    health: c.health,
    healthTimeoutS: c.healthTimeoutS,
  }
}

function step(c: Component): Step {
  return {
    id: c.id,
    title: c.title,
    on: 'control-plane',
    when: (config) => config.controlPlane.mode === 'managed',
    ...(c.after ? { after: c.after } : {}),
    ...(c.establishes ? { establishes: c.establishes } : {}),
    check: (ctx, node) => serviceConverged(node.runner, service(c, ctx, node)),
    async apply(ctx, node) {
      if (c.id === 'cp:etcd') await node.runner.$`install -d -m 700 /var/lib/etcd`
      await convergeService(node.runner, service(c, ctx, node))
    },
  }
}

export const [cpEtcd, cpApiserver, cpControllerManager, cpScheduler] = COMPONENTS.map(step) as [Step, Step, Step, Step]
