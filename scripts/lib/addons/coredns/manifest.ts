// CoreDNS, the cluster DNS addon, as data: ServiceAccount, ClusterRole + Binding (list/watch of
// what the kubernetes plugin reads), the Corefile ConfigMap, the Deployment (local image, never
// pulled) and the `kube-dns` Service at the config's dnsServiceIP (kubelet's clusterDNS).
//
// CoreDNS is authoritative for the cluster domain and the reverse zones. Every other name goes to
// the upstream (egress/upstream.ts): the configured or host's resolvers through the uplink, or on
// machines with their own network the node's resolv.conf (with `loop`, which stops a resolv.conf
// that points back at CoreDNS). With egress off there is no upstream: a catch-all `.` block answers
// NXDOMAIN at once, so lookups fail fast instead of timing out.

import { createHash } from 'node:crypto'
import type { Upstream } from '../../egress/upstream.ts'
import { addonManifest, type AddonManifest, type Doc } from '../manifest.ts'

export interface CorednsParams {
  /** e.g. kubelab.local/coredns:v1.14.7 (imported on every node). */
  readonly image: string
  readonly dnsServiceIP: string
  readonly clusterDomain: string
  readonly replicas: number
  /** Where names outside the cluster domain go (egress/upstream.ts). */
  readonly upstream: Upstream
}

export { MANIFEST_ANNOTATION } from '../manifest.ts'
export const COREDNS_NAMESPACE = 'kube-system'
const CLUSTER_ROLE = 'system:coredns'
const LABELS = { 'k8s-app': 'kube-dns' }

/** The catch-all server block: forward upstream, or (no upstream) NXDOMAIN at once. */
function otherNames(up: Upstream): string[] {
  if (up.via === 'none') {
    return [
      `# No upstream resolver (${up.why}): every other name is NXDOMAIN, answered at once.`,
      '.:53 {',
      '    errors',
      '    prometheus :9153',
      '    template ANY ANY {',
      '        rcode NXDOMAIN',
      '    }',
      '}',
    ]
  }
  const to = up.via === 'servers' ? up.servers.join(' ') : '/etc/resolv.conf'
  return [
    `# Every other name: forwarded to ${up.via === 'servers' ? `the upstream resolvers (${up.from})` : "the node's resolvers"}.`,
    '.:53 {',
    '    errors',
    '    prometheus :9153',
    `    forward . ${to} {`,
    '        max_concurrent 1000',
    '    }',
    '    cache 30',
    // A resolv.conf naming CoreDNS itself (or a local stub) would loop: the loop plugin stops that.
    ...(up.via === 'node' ? ['    loop'] : []),
    '    reload',
    '}',
  ]
}

export function corefile(clusterDomain: string, up: Upstream): string {
  return [
    `${clusterDomain}:53 in-addr.arpa:53 ip6.arpa:53 {`,
    '    errors',
    '    health {',
    '        lameduck 5s',
    '    }',
    '    ready',
    `    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {`,
    '        pods insecure',
    '        ttl 30',
    '    }',
    '    prometheus :9153',
    '    cache 30',
    '    loadbalance',
    '    reload',
    '}',
    ...otherNames(up),
    '',
  ].join('\n')
}

/** The addon's objects, in apply order, without the manifest annotation. */
export function corednsObjects(p: CorednsParams): Doc[] {
  const ns = COREDNS_NAMESPACE
  const file = corefile(p.clusterDomain, p.upstream)
  const corefileHash = createHash('sha256').update(file).digest('hex')
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: CLUSTER_ROLE },
      rules: [
        { apiGroups: [''], resources: ['services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: CLUSTER_ROLE },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CLUSTER_ROLE },
      subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: ns }],
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: ns }, data: { Corefile: file } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'coredns', namespace: ns, labels: LABELS },
      spec: {
        replicas: p.replicas,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        selector: { matchLabels: LABELS },
        template: {
          // A Corefile change rolls the pods (the reload plugin would too, but only after the
          // kubelet's ConfigMap sync).
          metadata: { labels: LABELS, annotations: { 'kubelab.io/corefile-sha256': corefileHash } },
          spec: {
            serviceAccountName: 'coredns',
            priorityClassName: 'system-cluster-critical',
            // The node's resolv.conf, not the cluster DNS itself.
            dnsPolicy: 'Default',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            tolerations: [
              { key: 'CriticalAddonsOnly', operator: 'Exists' },
              { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
            ],
            affinity: {
              podAntiAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [{
                  weight: 100,
                  podAffinityTerm: { labelSelector: { matchLabels: LABELS }, topologyKey: 'kubernetes.io/hostname' },
                }],
              },
            },
            containers: [{
              name: 'coredns',
              image: p.image,
              // Imported on every node by runtime:workload-images; there is no registry to pull from.
              imagePullPolicy: 'IfNotPresent',
              args: ['-conf', '/etc/coredns/Corefile'],
              ports: [
                { name: 'dns', containerPort: 53, protocol: 'UDP' },
                { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                { name: 'metrics', containerPort: 9153, protocol: 'TCP' },
              ],
              resources: { requests: { cpu: '50m', memory: '40Mi' }, limits: { memory: '170Mi' } },
              volumeMounts: [{ name: 'config-volume', mountPath: '/etc/coredns', readOnly: true }],
              livenessProbe: {
                httpGet: { path: '/health', port: 8080, scheme: 'HTTP' },
                initialDelaySeconds: 60, timeoutSeconds: 5, successThreshold: 1, failureThreshold: 5,
              },
              readinessProbe: { httpGet: { path: '/ready', port: 8181, scheme: 'HTTP' }, periodSeconds: 2 },
              // Root in the image (no file capabilities in our layer), but only port binding allowed.
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
                readOnlyRootFilesystem: true,
              },
            }],
            volumes: [{ name: 'config-volume', configMap: { name: 'coredns', items: [{ key: 'Corefile', path: 'Corefile' }] } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'kube-dns', namespace: ns,
        labels: { ...LABELS, 'kubernetes.io/name': 'CoreDNS' },
        annotations: { 'prometheus.io/port': '9153', 'prometheus.io/scrape': 'true' },
      },
      spec: {
        selector: LABELS,
        clusterIP: p.dnsServiceIP,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          { name: 'metrics', port: 9153, protocol: 'TCP' },
        ],
      },
    },
  ]
}

export type CorednsManifest = AddonManifest

/** The objects as addons:coredns applies them (labelled kubelab.io/addon=coredns, hash-annotated). */
export function corednsManifest(p: CorednsParams): CorednsManifest {
  return addonManifest('coredns', corednsObjects(p))
}
