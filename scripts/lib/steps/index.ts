// The converge pipeline, in order: one line per step. `kubelab plan` prints this per node; `up`
// runs it (each step: read-only check -> apply -> check again). A step's `on` says which nodes it
// runs on; `managedOnly` steps exist only when kubelab runs the control plane itself.
// Each step's implementation lives in its own file in this folder; pipeline.ts binds them.

export type StepTarget = 'all' | 'control-plane' | 'workers'

export interface StepInfo {
  /** Stable id, `area:thing`, used in errors, --json and timings. */
  readonly id: string
  /** What the progress line says while it runs. */
  readonly title: string
  readonly on: StepTarget
  readonly managedOnly?: boolean
}

export const STEPS: readonly StepInfo[] = [
  // Machine and OS
  { id: 'machine:ready', title: 'Waiting for the machine (SSH, systemd)', on: 'all' },
  { id: 'os:prep', title: 'Preparing the OS (kernel modules, sysctls, swap, iptables backend)', on: 'all' },
  { id: 'artifacts:upload', title: 'Uploading verified binaries', on: 'all' },
  // Container runtime
  { id: 'runtime:containerd', title: 'Installing containerd, runc and CNI plugins', on: 'all' },
  { id: 'runtime:images', title: 'Importing the sandbox (pause) image', on: 'all' },
  // Control plane (managed only)
  { id: 'pki:certs', title: 'Issuing certificates and kubeconfigs', on: 'control-plane', managedOnly: true },
  { id: 'cp:etcd', title: 'Starting etcd', on: 'control-plane', managedOnly: true },
  { id: 'cp:apiserver', title: 'Starting kube-apiserver', on: 'control-plane', managedOnly: true },
  { id: 'cp:controller-manager', title: 'Starting kube-controller-manager', on: 'control-plane', managedOnly: true },
  { id: 'cp:scheduler', title: 'Starting kube-scheduler', on: 'control-plane', managedOnly: true },
  { id: 'cp:bootstrap', title: 'Creating the bootstrap token and RBAC bindings', on: 'control-plane', managedOnly: true },
  // Node agents and join
  { id: 'kubelet:config', title: 'Configuring kubelet (TLS bootstrap)', on: 'all' },
  { id: 'join:node', title: 'Joining the node (CSR approved, Node registered)', on: 'all' },
  // After the join: kube-proxy reads its own Node object at start.
  { id: 'kube-proxy:config', title: 'Configuring kube-proxy', on: 'all' },
  { id: 'network:pod-routes', title: 'Routing pod CIDRs between nodes', on: 'all' },
  { id: 'node:ready', title: 'Waiting for the node to be Ready', on: 'all' },
]

/** The catalogue entry of a step id (implementations spread it into their Step). */
export function stepInfo(id: string): StepInfo {
  const info = STEPS.find((s) => s.id === id)
  if (!info) throw new Error(`internal: no step ${id} in steps/index.ts`)
  return info
}
