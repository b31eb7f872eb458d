// The pki package's exports: the store (ensurePki, PkiStore, the manifest), the control-plane set
// as data, and the builders a converge step or the CLI may need on their own.

export { ensurePki, PkiStore, pkiFileInfo, storeFiles } from './store.ts'
export type { EnsurePkiOptions, PkiFileInfo, PkiManifestEntry, PkiResult, PkiTarget } from './store.ts'
export { apiServerSans, apiServerUrl, CAS, CLUSTER_CA, controlPlanePki, ETCD_CA, FRONT_PROXY_CA, LOCAL_APISERVER } from './control-plane.ts'
export type { ControlPlanePki, KubeconfigSpec, PkiOptions } from './control-plane.ts'
export { pkiBundle } from './bundle.ts'
export type { PkiFiles, PkiLocalFile } from './bundle.ts'
export { caCertHash } from './certs.ts'
export type { CaSpec, CertUsage, LeafSpec } from './certs.ts'
export { BOOTSTRAP_GROUP, bootstrapRbac, bootstrapTokenSecret, generateBootstrapToken, parseBootstrapToken, TOKEN_PATTERN } from './bootstrap.ts'
export { encryptionConfig, parseEncryptionKey } from './encryption.ts'
export { kubeconfig, parseKubeconfig } from './kubeconfig.ts'
