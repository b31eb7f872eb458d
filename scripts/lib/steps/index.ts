// The converge pipeline, in order: one line per step. `kubelab plan` prints this per node; `up`
// runs it (each step: read-only check -> apply -> check again). A step's `on` says which nodes it
// runs on; `managedOnly` steps exist only when kubelab runs the control plane itself, `externalOnly`
// ones only when workers join a control plane kubelab did not make.
// Each step's implementation lives in its own file in this folder; pipeline.ts binds them.

export type StepTarget = 'all' | 'control-plane' | 'workers'

export interface StepInfo {
  /** Stable id, `area:thing`, used in errors, --json and timings. */
  readonly id: string
  /** What the progress line says while it runs. */
  readonly title: string
  readonly on: StepTarget
  readonly managedOnly?: boolean
  /** Only with `controlPlane.mode: external` (joining a control plane kubelab did not make). */
  readonly externalOnly?: boolean
}

/** Whether a step exists for the control-plane mode (managedOnly / externalOnly). */
export function stepInMode(step: StepInfo, mode: 'managed' | 'external'): boolean {
  return mode === 'managed' ? !step.externalOnly : !step.managedOnly
}

export const STEPS: readonly StepInfo[] = [
  // Machine and OS
  { id: 'machine:ready', title: 'Waiting for the machine (SSH, systemd)', on: 'all' },
  { id: 'os:prep', title: 'Preparing the OS (kernel modules, sysctls, swap, iptables backend)', on: 'all' },
  { id: 'artifacts:upload', title: 'Uploading verified binaries', on: 'all' },
  // Container runtime
  { id: 'runtime:containerd', title: 'Installing containerd, runc and CNI plugins', on: 'all' },
  { id: 'runtime:images', title: 'Importing local images (pause, testbox, coredns)', on: 'all' },
  // Control plane (managed only)
  { id: 'pki:certs', title: 'Issuing certificates and kubeconfigs', on: 'control-plane', managedOnly: true },
  { id: 'cp:etcd', title: 'Starting etcd', on: 'control-plane', managedOnly: true },
  { id: 'cp:apiserver', title: 'Starting kube-apiserver', on: 'control-plane', managedOnly: true },
  { id: 'cp:controller-manager', title: 'Starting kube-controller-manager', on: 'control-plane', managedOnly: true },
  { id: 'cp:scheduler', title: 'Starting kube-scheduler', on: 'control-plane', managedOnly: true },
  { id: 'cp:bootstrap', title: 'Creating the bootstrap token and RBAC bindings', on: 'control-plane', managedOnly: true },
  // Node agents and join
  { id: 'join:discovery', title: 'Discovering the external control plane (CA pinned by hash, token checked)', on: 'workers', externalOnly: true },
  { id: 'kubelet:config', title: 'Configuring kubelet (TLS bootstrap)', on: 'all' },
  { id: 'join:node', title: 'Joining the node (CSR approved, Node registered)', on: 'all' },
  // After the join: kube-proxy reads its own Node object at start.
  { id: 'kube-proxy:config', title: 'Configuring kube-proxy', on: 'all' },
  { id: 'network:pod-routes', title: 'Routing pod CIDRs between nodes', on: 'all' },
  { id: 'node:ready', title: 'Waiting for the node to be Ready', on: 'all' },
  // Cluster addons (applied once, from the control plane)
  { id: 'addons:coredns', title: 'Deploying CoreDNS (cluster DNS)', on: 'control-plane', managedOnly: true },
]

/** The catalogue entry of a step id (implementations spread it into their Step). */
export function stepInfo(id: string): StepInfo {
  const info = STEPS.find((s) => s.id === id)
  if (!info) throw new Error(`internal: no step ${id} in steps/index.ts`)
  return info
}
