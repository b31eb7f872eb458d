// metrics-server as data (upstream's components.yaml at the pinned version, with kubelab's image):
// it scrapes every kubelet's /metrics/resource over HTTPS at the node's InternalIP and *verifies*
// the kubelet's serving certificate against the cluster CA (`--kubelet-certificate-authority`,
// the service account's ca.crt: the CA kube-controller-manager signs kubelet serving CSRs with, and
// join:serving-cert approved a certificate for exactly the node's names and addresses). Never
// `--kubelet-insecure-tls`. The APIService v1beta1.metrics.k8s.io makes `kubectl top` and HPAs
// work, and unlike upstream's manifest (insecureSkipTLSVerify) the API server verifies
// metrics-server too: it serves a certificate kubelab's PKI issued for its Service name
// (`metrics-server.kube-system.svc`, signed by the cluster CA, kept in the Secret
// metrics-server-tls), and the APIService's caBundle is the cluster CA. The aggregation layer
// authenticates itself to metrics-server with the front-proxy client certificate.

import { createHash } from 'node:crypto'
import type { Doc } from '../manifest.ts'

export interface MetricsServerParams {
  /** e.g. kubelab.local/metrics-server:v0.8.0 (imported on every node). */
  readonly image: string
  /** Its serving certificate and key (PEM, from kubelab's PKI) and the CA that signed them. */
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string }
}

export const METRICS_NAMESPACE = 'kube-system'
export const METRICS_APISERVICE = 'v1beta1.metrics.k8s.io'
/** The CA file every pod's service-account volume carries (the kube-root-ca.crt ConfigMap). */
export const CLUSTER_CA_IN_POD = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt'
const LABELS = { 'k8s-app': 'metrics-server' }
const NAME = 'metrics-server'
export const METRICS_TLS_SECRET = 'metrics-server-tls'
const TLS_DIR = '/etc/metrics-server/tls'

/** metrics-server's arguments: verified kubelet TLS, InternalIP, the kubelet's port from the Node status. */
export function metricsServerArgs(): string[] {
  return [
    '--cert-dir=/tmp',
    `--tls-cert-file=${TLS_DIR}/tls.crt`,
    `--tls-private-key-file=${TLS_DIR}/tls.key`,
    '--secure-port=10250',
    '--kubelet-preferred-address-types=InternalIP',
    '--kubelet-use-node-status-port',
    `--kubelet-certificate-authority=${CLUSTER_CA_IN_POD}`,
    '--metric-resolution=15s',
  ]
}

export function metricsServerObjects(p: MetricsServerParams): Doc[] {
  const ns = METRICS_NAMESPACE
  const sa = [{ kind: 'ServiceAccount', name: NAME, namespace: ns }]
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  const certHash = createHash('sha256').update(p.tls.cert).digest('hex')
  return [
    {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: METRICS_TLS_SECRET, namespace: ns, labels: LABELS },
      type: 'kubernetes.io/tls', data: { 'tls.crt': b64(p.tls.cert), 'tls.key': b64(p.tls.key) },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NAME, namespace: ns, labels: LABELS } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole',
      metadata: {
        name: 'system:aggregated-metrics-reader',
        labels: { ...LABELS, 'rbac.authorization.k8s.io/aggregate-to-admin': 'true', 'rbac.authorization.k8s.io/aggregate-to-edit': 'true', 'rbac.authorization.k8s.io/aggregate-to-view': 'true' },
      },
      rules: [{ apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:metrics-server', labels: LABELS },
      rules: [
        { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'metrics-server-auth-reader', namespace: ns, labels: LABELS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' },
      subjects: sa,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'metrics-server:system:auth-delegator', labels: LABELS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: sa,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'system:metrics-server', labels: LABELS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:metrics-server' },
      subjects: sa,
    },
    {
      apiVersion: 'v1', kind: 'Service', metadata: { name: NAME, namespace: ns, labels: LABELS },
      spec: { selector: LABELS, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 'https' }] },
    },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: NAME, namespace: ns, labels: LABELS },
      spec: {
        replicas: 1,
        selector: { matchLabels: LABELS },
        strategy: { rollingUpdate: { maxUnavailable: 0 } },
        template: {
          // A new certificate rolls the pod.
          metadata: { labels: LABELS, annotations: { 'kubelab.io/tls-sha256': certHash } },
          spec: {
            serviceAccountName: NAME,
            priorityClassName: 'system-cluster-critical',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            containers: [{
              name: NAME,
              image: p.image,
              // Imported on every node by runtime:images; nothing to pull.
              imagePullPolicy: 'IfNotPresent',
              args: metricsServerArgs(),
              ports: [{ name: 'https', containerPort: 10250, protocol: 'TCP' }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'https', scheme: 'HTTPS' }, periodSeconds: 2, failureThreshold: 3 },
              livenessProbe: { httpGet: { path: '/livez', port: 'https', scheme: 'HTTPS' }, periodSeconds: 10, failureThreshold: 3 },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 1000,
                capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [{ name: 'tmp-dir', mountPath: '/tmp' }, { name: 'tls', mountPath: TLS_DIR, readOnly: true }],
            }],
            volumes: [{ name: 'tmp-dir', emptyDir: {} }, { name: 'tls', secret: { secretName: METRICS_TLS_SECRET } }],
          },
        },
      },
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: METRICS_APISERVICE, labels: LABELS },
      spec: {
        group: 'metrics.k8s.io', version: 'v1beta1', groupPriorityMinimum: 100, versionPriority: 100,
        caBundle: b64(p.tls.ca),
        service: { name: NAME, namespace: ns },
      },
    },
  ]
}
