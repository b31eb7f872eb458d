// pki:certs — the certificates, keys, kubeconfigs and encryption config kubelab issued (pki/, kept
// in the cluster's state) installed on the control-plane node, each only when its sha256 differs.

import { differing, uploadFiles } from '../converge/files.ts'
import type { Step } from '../converge/step.ts'
import { PKI_DIR } from '../node/paths.ts'

export const pkiCerts: Step = {
  id: 'pki:certs',
  title: 'Issuing certificates and kubeconfigs',
  on: 'control-plane',
  when: (config) => config.controlPlane.mode === 'managed',
  async check(ctx, node) {
    return (await differing(node.runner, ctx.pki?.files('control-plane') ?? [])).length === 0
  },
  async apply(ctx, node) {
    await node.runner.$`install -d -m 755 ${PKI_DIR}/etcd`
    await uploadFiles(node.runner, ctx.pki?.files('control-plane') ?? [])
  },
}
