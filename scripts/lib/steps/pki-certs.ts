// pki:certs — the certificates, keys, kubeconfigs and encryption config kubelab issued (pki/, kept
// in the cluster's state) installed on the control-plane node, each only when its sha256 differs.

import { differing, uploadFiles } from './files.ts'
import { stepInfo } from './index.ts'
import type { Step } from './types.ts'

export const pkiCerts: Step = {
  ...stepInfo('pki:certs'),
  async check(ctx, node) {
    return (await differing(node.runner, ctx.pki?.files('control-plane') ?? [])).length === 0
  },
  async apply(ctx, node) {
    await node.runner.$`install -d -m 755 /etc/kubernetes/pki/etcd`
    await uploadFiles(node.runner, ctx.pki?.files('control-plane') ?? [])
  },
}
