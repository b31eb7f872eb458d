// Where things live on a node: every on-node path kubelab's steps, checks and bundles share, in one
// place. Installed files that come from templates have their destination in templates/table.ts.

export const BIN_DIR = '/usr/local/bin'
export const KUBECTL = `${BIN_DIR}/kubectl`
export const CTR = `${BIN_DIR}/ctr`

/** The cluster PKI as kubeadm lays it out (CA, component certificates, etcd's own CA below). */
export const PKI_DIR = '/etc/kubernetes/pki'
export const CA_FILE = `${PKI_DIR}/ca.crt`
/** The admin kubeconfig on the control plane (server: the node's own API server). */
export const ADMIN_CONF = '/etc/kubernetes/admin.conf'

export const KUBELET_DIR = '/var/lib/kubelet'
/** kubelet's client kubeconfig, written by kubelet once its TLS bootstrap succeeded: the node has joined. */
export const KUBELET_KUBECONFIG = `${KUBELET_DIR}/kubeconfig`
/** The bootstrap kubeconfig (join token + CA) kubelet starts with until it has joined. */
export const BOOTSTRAP_KUBECONFIG = `${KUBELET_DIR}/bootstrap-kubeconfig`
export const KUBELET_PKI_DIR = `${KUBELET_DIR}/pki`
export const KUBELET_CLIENT_CERT = `${KUBELET_PKI_DIR}/kubelet-client-current.pem`
export const KUBELET_SERVING_CERT = `${KUBELET_PKI_DIR}/kubelet-server-current.pem`

/** kubelab's own state on the node. */
export const KUBELAB_DIR = '/var/lib/kubelab'
/** What each service was last started with (converge/service.ts). */
export const STAMPS_DIR = `${KUBELAB_DIR}/stamps`
/** Manifests applied from the control plane. */
export const MANIFESTS_DIR = `${KUBELAB_DIR}/manifests`
/** Image archives uploaded for `ctr images import`. */
export const IMAGES_DIR = `${KUBELAB_DIR}/images`
/** `sha256  path` of every binary the node received (artifacts:upload). */
export const ARTIFACTS_MANIFEST = `${KUBELAB_DIR}/artifacts.sha256`

/** The stamp of a systemd unit: `kubelet.service` -> /var/lib/kubelab/stamps/kubelet.service. */
export const stampOf = (unit: string) => `${STAMPS_DIR}/${unit}`

/** kubectl with the admin kubeconfig on the control plane, as argv (for a Runner's `$`). */
export const adminKubectl = (args: readonly string[]) => [KUBECTL, '--kubeconfig', ADMIN_CONF, ...args]

/** The local registry's storage (addons.registry): on the control-plane node's own disk. */
export const REGISTRY_DATA_DIR = '/var/lib/kubelab-registry'
/** Node-local volumes of the default StorageClass (addons.storage): one directory per PersistentVolume. */
export const LOCAL_PATH_DIR = '/var/lib/kubelab-local-path'
