// The default StorageClass `local-path` and its provisioner, rancher's local-path-provisioner, as
// data (upstream's deploy/local-path-storage.yaml at the pinned version, with kubelab's images):
// a PersistentVolumeClaim gets a directory under LOCAL_PATH_DIR on the node its first pod is
// scheduled to (volumeBindingMode WaitForFirstConsumer), made and removed by a helper pod running
// the testbox image (busybox `sh`, `mkdir`, `rm`); the PersistentVolume is pinned to that node.

import type { Doc } from '../manifest.ts'

export interface StorageParams {
  /** e.g. kubelab.local/local-path-provisioner:v0.0.30 (imported on every node). */
  readonly image: string
  /** The helper pods' image: the testbox (busybox applets). */
  readonly helperImage: string
  /** Where volumes live on each node. */
  readonly dir: string
}

export const STORAGE_NAMESPACE = 'local-path-storage'
/** The default StorageClass: the name k3s/k3d give the same provisioner's class. */
export const STORAGE_CLASS = 'local-path'
export const PROVISIONER_NAME = 'rancher.io/local-path'
const SA = 'local-path-provisioner-service-account'
const ROLE = 'local-path-provisioner-role'
const BIND = 'local-path-provisioner-bind'
const LABELS = { app: 'local-path-provisioner' }

/** The helper pod template the provisioner fills in (volumes, env, command) per volume. */
export function helperPod(image: string): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    '  name: helper-pod',
    'spec:',
    '  priorityClassName: system-node-critical',
    '  tolerations:',
    '    - key: node.kubernetes.io/disk-pressure',
    '      operator: Exists',
    '      effect: NoSchedule',
    '  containers:',
    '  - name: helper-pod',
    `    image: ${image}`,
    // Imported on every node by runtime:images; nothing to pull.
    '    imagePullPolicy: IfNotPresent',
    '',
  ].join('\n')
}

export function storageObjects(p: StorageParams): Doc[] {
  const ns = STORAGE_NAMESPACE
  const config = { nodePathMap: [{ node: 'DEFAULT_PATH_FOR_NON_LISTED_NODES', paths: [p.dir] }] }
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SA, namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: ROLE, namespace: ns },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: ROLE },
      rules: [
        { apiGroups: [''], resources: ['nodes', 'persistentvolumeclaims', 'configmaps', 'pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        { apiGroups: ['storage.k8s.io'], resources: ['storageclasses'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: BIND, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ROLE },
      subjects: [{ kind: 'ServiceAccount', name: SA, namespace: ns }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: BIND },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ROLE },
      subjects: [{ kind: 'ServiceAccount', name: SA, namespace: ns }],
    },
    {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'local-path-config', namespace: ns },
      data: {
        'config.json': JSON.stringify(config, null, 2),
        setup: '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
        teardown: '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
        'helperPod.yaml': helperPod(p.helperImage),
      },
    },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'local-path-provisioner', namespace: ns, labels: LABELS },
      spec: {
        replicas: 1,
        selector: { matchLabels: LABELS },
        template: {
          metadata: { labels: LABELS },
          spec: {
            serviceAccountName: SA,
            priorityClassName: 'system-cluster-critical',
            tolerations: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }],
            containers: [{
              name: 'local-path-provisioner',
              image: p.image,
              imagePullPolicy: 'IfNotPresent',
              command: ['/local-path-provisioner', '--debug', 'start', '--config', '/etc/config/config.json',
                '--provisioner-name', PROVISIONER_NAME, '--service-account-name', SA, '--configmap-name', 'local-path-config'],
              env: [
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'CONFIG_MOUNT_PATH', value: '/etc/config/' },
              ],
              resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
              volumeMounts: [{ name: 'config-volume', mountPath: '/etc/config/' }],
            }],
            volumes: [{ name: 'config-volume', configMap: { name: 'local-path-config' } }],
          },
        },
      },
    },
    {
      apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass',
      metadata: { name: STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: PROVISIONER_NAME,
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Delete',
    },
  ]
}
