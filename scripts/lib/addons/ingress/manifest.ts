// Traefik as the cluster's Ingress controller, as data (what k3s/k3d deploy, here without the
// Helm chart: its RBAC for the Kubernetes Ingress provider as upstream's documentation gives it,
// a Deployment of kubelab's image, the default IngressClass, and a LoadBalancer Service on 80 and
// 443 that addons.loadBalancer gives an address and the host forwarder puts on 127.0.0.1). Ingress
// status shows the Service's address (publishedService).

import type { Doc } from '../manifest.ts'

export const INGRESS_NAMESPACE = 'traefik'
export const INGRESS_NAME = 'traefik'
/** The IngressClass marked default: an Ingress without ingressClassName is Traefik's. */
export const INGRESS_CLASS = 'traefik'
/** Traefik's controller name (its IngressClass filter). */
export const INGRESS_CONTROLLER = 'traefik.io/ingress-controller'
const LABELS = { 'app.kubernetes.io/name': 'traefik' }
/** Unprivileged ports in the pod; the Service maps 80 and 443 onto them. */
const WEB = 8000
const WEBSECURE = 8443
/** Traefik's own entry point: /ping for the probes. */
const PING = 8080

export function ingressObjects(image: string): Doc[] {
  const ns = INGRESS_NAMESPACE
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: INGRESS_NAME, namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'kubelab-traefik' },
      rules: [
        { apiGroups: [''], resources: ['services', 'secrets', 'nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'ingressclasses'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['ingresses/status'], verbs: ['update'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'kubelab-traefik' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kubelab-traefik' },
      subjects: [{ kind: 'ServiceAccount', name: INGRESS_NAME, namespace: ns }],
    },
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass',
      metadata: { name: INGRESS_CLASS, annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
      spec: { controller: INGRESS_CONTROLLER },
    },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: INGRESS_NAME, namespace: ns, labels: LABELS },
      spec: {
        replicas: 1,
        selector: { matchLabels: LABELS },
        template: {
          metadata: { labels: LABELS },
          spec: {
            serviceAccountName: INGRESS_NAME,
            terminationGracePeriodSeconds: 10,
            // On the control plane, the one node its image is imported on (images/workloads.ts
            // CONTROL_PLANE_IMAGES: 178 MB, not copied to every worker). The Service reaches it
            // from every node.
            nodeSelector: { 'node-role.kubernetes.io/control-plane': '' },
            tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
            securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
            containers: [{
              name: 'traefik',
              image,
              // Imported on every node by runtime:workload-images: nothing to pull.
              imagePullPolicy: 'IfNotPresent',
              args: [
                `--entryPoints.web.address=:${WEB}/tcp`,
                `--entryPoints.websecure.address=:${WEBSECURE}/tcp`,
                `--entryPoints.traefik.address=:${PING}/tcp`,
                '--ping=true',
                '--providers.kubernetesingress=true',
                `--providers.kubernetesingress.ingressendpoint.publishedservice=${ns}/${INGRESS_NAME}`,
                '--log.level=INFO',
                '--global.checknewversion=false',
                '--global.sendanonymoususage=false',
              ],
              ports: [
                { name: 'web', containerPort: WEB, protocol: 'TCP' },
                { name: 'websecure', containerPort: WEBSECURE, protocol: 'TCP' },
                { name: 'traefik', containerPort: PING, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/ping', port: PING }, periodSeconds: 2, failureThreshold: 3 },
              livenessProbe: { httpGet: { path: '/ping', port: PING }, periodSeconds: 10, failureThreshold: 3 },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              resources: { requests: { cpu: '10m', memory: '32Mi' } },
            }],
          },
        },
      },
    },
    {
      apiVersion: 'v1', kind: 'Service', metadata: { name: INGRESS_NAME, namespace: ns, labels: LABELS },
      spec: {
        type: 'LoadBalancer',
        selector: LABELS,
        ports: [
          { name: 'web', port: 80, targetPort: 'web', protocol: 'TCP' },
          { name: 'websecure', port: 443, targetPort: 'websecure', protocol: 'TCP' },
        ],
      },
    },
  ]
}
