// Every file kubelab installs on a node: where it goes, its mode, and the systemd unit to restart
// when it changes. Text templates are files under templates/ named as installed; `data` files are
// built by files.ts. Steps look files up here instead of spelling paths themselves.

export interface InstalledFile {
  /** `template`: templates/<name>, rendered with renderTemplate; `data`: built in files.ts. */
  readonly kind: 'template' | 'data'
  readonly dest: string
  readonly mode: number
  /** The unit to restart (or reload) when the file changes; none for files read on demand. */
  readonly restarts?: string
  /** Which nodes get it; `*-image` files are baked into a base image instead (`node-image`: every image). */
  readonly on: 'all' | 'control-plane' | 'node-image' | 'nspawn-image' | 'qemu-image'
}

const unit = (name: string, on: 'all' | 'control-plane' = 'all'): InstalledFile => ({
  kind: 'template',
  dest: `/etc/systemd/system/${name}`,
  mode: 0o644,
  restarts: name,
  on,
})

export const INSTALLED_FILES = {
  'modules-load.d/kubelab.conf': { kind: 'template', dest: '/etc/modules-load.d/kubelab.conf', mode: 0o644, restarts: 'systemd-modules-load.service', on: 'all' },
  'sysctl.d/99-kubelab.conf': { kind: 'template', dest: '/etc/sysctl.d/99-kubelab.conf', mode: 0o644, restarts: 'systemd-sysctl.service', on: 'all' },
  'systemd/containerd.service': unit('containerd.service'),
  'systemd/kubelet.service': unit('kubelet.service'),
  'systemd/kube-proxy.service': unit('kube-proxy.service'),
  'systemd/etcd.service': unit('etcd.service', 'control-plane'),
  'systemd/kube-apiserver.service': unit('kube-apiserver.service', 'control-plane'),
  'systemd/kube-controller-manager.service': unit('kube-controller-manager.service', 'control-plane'),
  'systemd/kube-scheduler.service': unit('kube-scheduler.service', 'control-plane'),
  'systemd/kubelab-pod-routes.service': unit('kubelab-pod-routes.service'),
  // addons.registry only (the step installs them; the table says where and what they restart).
  'systemd/kubelab-registry.service': unit('kubelab-registry.service', 'control-plane'),
  // network.policy only (steps/network-policy.ts installs it).
  'systemd/kube-router.service': unit('kube-router.service'),
  'registry/config.yml': { kind: 'template', dest: '/etc/kubelab-registry/config.yml', mode: 0o644, restarts: 'kubelab-registry.service', on: 'control-plane' },
  'network/kubelab-pod-routes': { kind: 'template', dest: '/usr/local/sbin/kubelab-pod-routes', mode: 0o755, restarts: 'kubelab-pod-routes.service', on: 'all' },
  'containerd/config.toml': { kind: 'data', dest: '/etc/containerd/config.toml', mode: 0o644, restarts: 'containerd.service', on: 'all' },
  'cni/net.d/10-bridge.conflist': { kind: 'data', dest: '/etc/cni/net.d/10-bridge.conflist', mode: 0o644, on: 'all' },
  'kubelet/kubelet-config.yaml': { kind: 'data', dest: '/var/lib/kubelet/kubelet-config.yaml', mode: 0o644, restarts: 'kubelet.service', on: 'all' },
  'kube-proxy/kube-proxy-config.yaml': { kind: 'data', dest: '/var/lib/kube-proxy/kube-proxy-config.yaml', mode: 0o644, restarts: 'kube-proxy.service', on: 'all' },
  // egress.proxy (egress/proxy.ts): one drop-in per unit that pulls or talks out, always present.
  'systemd/containerd.service.d/kubelab-proxy.conf': { kind: 'data', dest: '/etc/systemd/system/containerd.service.d/kubelab-proxy.conf', mode: 0o644, restarts: 'containerd.service', on: 'all' },
  'systemd/kubelet.service.d/kubelab-proxy.conf': { kind: 'data', dest: '/etc/systemd/system/kubelet.service.d/kubelab-proxy.conf', mode: 0o644, restarts: 'kubelet.service', on: 'all' },
  // Machines in a lab namespace only (os:resolver): the upstream resolvers (egress/upstream.ts).
  'resolv.conf': { kind: 'data', dest: '/etc/resolv.conf', mode: 0o644, on: 'all' },
  'crictl.yaml': { kind: 'data', dest: '/etc/crictl.yaml', mode: 0o644, on: 'all' },
  'nspawn/kubelab-node-fixups': { kind: 'template', dest: '/usr/local/sbin/kubelab-node-fixups', mode: 0o755, on: 'nspawn-image' },
  'nspawn/kubelab-node-fixups.service': { kind: 'template', dest: '/etc/systemd/system/kubelab-node-fixups.service', mode: 0o644, on: 'nspawn-image' },
  'node-image/ssh.service.d/kubelab.conf': { kind: 'template', dest: '/etc/systemd/system/ssh.service.d/kubelab.conf', mode: 0o644, on: 'node-image' },
  'node-image/sshd_config.d/kubelab.conf': { kind: 'template', dest: '/etc/ssh/sshd_config.d/kubelab.conf', mode: 0o644, on: 'node-image' },
  'qemu/kubelab-seed': { kind: 'template', dest: '/usr/local/sbin/kubelab-seed', mode: 0o755, on: 'qemu-image' },
  'qemu/kubelab-seed.service': { kind: 'template', dest: '/etc/systemd/system/kubelab-seed.service', mode: 0o644, on: 'qemu-image' },
} as const satisfies Record<string, InstalledFile>

export type InstalledFileName = keyof typeof INSTALLED_FILES
