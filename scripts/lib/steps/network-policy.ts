// network:policy — NetworkPolicy enforced on every node (network.policy, default on): kube-router
// with only its firewall controller (iptables + ipset, --run-router=false --run-service-proxy=false),
// so kubelab's pod routes and kube-proxy keep their jobs. Built from its Go module like every
// binary (artifacts:upload put it in /usr/local/bin). Each node runs it as kube-router.service with
// its own client certificate (kubelab:kube-router:NODE, group kubelab:kube-router) bound to a
// read-only ClusterRole: get/list/watch of exactly what its informers read, nothing else.
// Why kube-router and not kube-network-policies: docs/network-policy.md.
//
// The rules are the kernel's (iptables/ipset in the node's network namespace), kube-router only
// keeps them in sync: a kubelet or containerd restart leaves them in place, and at boot the
// enabled unit syncs them again from the API. Healthy = its health endpoint answers and its
// top-level chain exists (the first sync is done).

import { stringify } from 'yaml'
import { createHash } from 'node:crypto'
import { MANIFEST_ANNOTATION } from '../addons/manifest.ts'
import { convergeService, serviceConverged, type ServiceSpec } from '../converge/service.ts'
import type { Step, StepContext } from '../converge/step.ts'
import { apiGet } from '../node/cluster-api.ts'
import { kubectlApply } from '../node/kubectl.ts'
import { BIN_DIR } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'
import { KUBE_ROUTER_GROUP } from '../pki/control-plane.ts'
import { renderTemplate } from '../templates/render.ts'
import { INSTALLED_FILES } from '../templates/table.ts'

export const KUBE_ROUTER_ROLE = 'kubelab:kube-router'
/** kube-router's default health port (its health server listens on every address of the node). */
const HEALTH_PORT = 20244

/**
 * The ClusterRole and its binding. kube-router v2.1.0 starts informers on Services, Endpoints,
 * EndpointSlices, Pods, Nodes, Namespaces and NetworkPolicies whichever controllers run, so it
 * needs to list and watch all seven (and get its own Node); it writes nothing in firewall-only mode.
 */
export function rbacManifest(): { yaml: string; sha256: string } {
  const rbac = 'rbac.authorization.k8s.io'
  const docs: Record<string, unknown>[] = [
    {
      apiVersion: `${rbac}/v1`, kind: 'ClusterRole', metadata: { name: KUBE_ROUTER_ROLE },
      rules: [
        { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes', 'services', 'endpoints'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: `${rbac}/v1`, kind: 'ClusterRoleBinding', metadata: { name: KUBE_ROUTER_ROLE },
      roleRef: { apiGroup: rbac, kind: 'ClusterRole', name: KUBE_ROUTER_ROLE },
      subjects: [{ apiGroup: rbac, kind: 'Group', name: KUBE_ROUTER_GROUP }],
    },
  ]
  const sha256 = createHash('sha256').update(JSON.stringify(docs)).digest('hex')
  const annotated = docs.map((d) => ({ ...d, metadata: { ...(d.metadata as object), annotations: { [MANIFEST_ANNOTATION]: sha256 } } }))
  return { yaml: annotated.map((d) => stringify(d, { lineWidth: 0 })).join('---\n'), sha256 }
}

function service(ctx: StepContext, node: NodeHandle): ServiceSpec {
  const unit = INSTALLED_FILES['systemd/kube-router.service']
  const kubeconfig = ctx.pki?.kubeRouterKubeconfig(node.spec.name)
  if (!kubeconfig) throw new Error(`network.policy is on but the PKI has no kube-router kubeconfig for ${node.spec.name}`)
  return {
    unit: 'kube-router.service',
    files: [{
      path: unit.dest,
      content: renderTemplate('systemd/kube-router.service', {
        binDir: BIN_DIR, nodeName: node.spec.name, serviceCIDR: ctx.config.kubernetes.serviceCIDR, healthPort: String(HEALTH_PORT),
      }),
      mode: unit.mode,
    }],
    localFiles: [kubeconfig],
    health: `curl -fsS -o /dev/null http://127.0.0.1:${HEALTH_PORT}/healthz && iptables -w -n -L KUBE-ROUTER-FORWARD`,
    healthTimeoutS: 90,
  }
}

async function rbacApplied(ctx: StepContext, sha256: string): Promise<boolean> {
  const replies = await Promise.all(['clusterroles', 'clusterrolebindings'].map((kind) =>
    apiGet(ctx, `/apis/rbac.authorization.k8s.io/v1/${kind}/${KUBE_ROUTER_ROLE}`, { metadataOnly: true })))
  return replies.every((r) => r.status === 200
    && (JSON.parse(r.body) as { metadata: { annotations?: Record<string, string> } }).metadata.annotations?.[MANIFEST_ANNOTATION] === sha256)
}

export const networkPolicy: Step = {
  id: 'network:policy',
  title: 'Enforcing NetworkPolicy (kube-router firewall)',
  on: 'all',
  when: (config) => config.network.policy && config.controlPlane.mode === 'managed',
  // kube-router reads its own Node object at start (its InternalIP is where pods' traffic is judged);
  // after kube-proxy, so the two do not start on the same cores on the way to the node being Ready.
  after: ['artifacts:upload', 'kube-proxy:config'],
  waitsFor: ['api:serving'],
  check: async (ctx, node) => (await rbacApplied(ctx, rbacManifest().sha256)) && serviceConverged(node.runner, service(ctx, node)),
  async apply(ctx, node) {
    const rbac = rbacManifest()
    // Every node applies the same objects; two first applies at once can race on create, so retry.
    for (let attempt = 1; !(await rbacApplied(ctx, rbac.sha256)); attempt++) {
      if (attempt > 3) throw new Error(`ClusterRole/ClusterRoleBinding ${KUBE_ROUTER_ROLE} still not at manifest ${rbac.sha256.slice(0, 12)} after 3 applies`)
      try {
        await kubectlApply(ctx.nodes, `kube-router-rbac-${node.spec.name}`, rbac.yaml)
      } catch (e) {
        if (attempt === 3) throw e
        await new Promise((r) => setTimeout(r, 1000 * attempt))
      }
    }
    await convergeService(node.runner, service(ctx, node))
  },
}
