// The store as the converge steps consume it (steps/types.ts PkiBundle, matched structurally so
// pki does not depend on steps): local files with install path, mode and sha256 to upload, the CA
// and kube-proxy kubeconfig every node gets, and bootstrap kubeconfigs for a join token.

import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { ClusterConfig, NodeSpec } from '../config/types.ts'
import { controlPlanePki, kubeRouterKubeconfigFile } from './control-plane.ts'
import { kubeconfig } from './kubeconfig.ts'
import { ensurePki, type EnsurePkiOptions, type PkiManifestEntry, type PkiResult } from './store.ts'

/** A store file to upload: the same shape as steps/files.ts LocalFile. */
export interface PkiLocalFile {
  /** Install path on the node. */
  readonly path: string
  /** Absolute path on the host. */
  readonly local: string
  readonly sha256: string
  readonly mode: number
}

export interface PkiFiles {
  /** What the control-plane node gets: CA certs, certs and keys, sa.*, component kubeconfigs, encryption config. */
  files(role: 'control-plane'): readonly PkiLocalFile[]
  readonly ca: PkiLocalFile
  /** The cluster admin's kubeconfig (server: the API server's loopback forward). */
  readonly admin: PkiLocalFile
  readonly kubeProxyKubeconfig: PkiLocalFile
  /** network.policy: the node's own kubeconfig for its NetworkPolicy enforcer (undefined when the store has none). */
  kubeRouterKubeconfig(node: string): PkiLocalFile | undefined
  /** The kubelet bootstrap kubeconfig for `token` (secret: write it to the node, never print it). */
  bootstrapKubeconfig(token: string): string
}

/** Files the control plane does not take from the bundle: token material is made by cp:bootstrap. */
const NOT_UPLOADED = new Set(['bootstrap-kubeconfig', 'bootstrap-token.yaml', 'bootstrap-rbac.yaml'])

/** ensurePki, then the result as the steps' PkiBundle. */
export async function pkiBundle(
  dir: string, config: ClusterConfig, cp: NodeSpec, options: EnsurePkiOptions = {},
): Promise<{ bundle: PkiFiles; result: PkiResult }> {
  const result = await ensurePki(dir, config, cp, options)
  const local = (e: PkiManifestEntry): PkiLocalFile => ({ path: e.installPath, local: path.resolve(dir, e.file), sha256: e.sha256, mode: e.mode })
  const entry = (file: string) => {
    const e = result.manifest.find((m) => m.file === file)
    if (!e) throw new Error(`PKI store ${dir} lacks ${file}`)
    return local(e)
  }
  const caPem = await readFile(path.join(dir, 'ca.crt'), 'utf8')
  const server = controlPlanePki(config, cp, options).nodeServer
  const cpFiles = result.manifest.filter((e) => !NOT_UPLOADED.has(e.file) && (e.nodes === 'control-plane' || e.file === 'ca.crt')).map(local)
  const bundle: PkiFiles = {
    files: () => cpFiles,
    ca: entry('ca.crt'),
    admin: entry('admin.conf'),
    kubeProxyKubeconfig: entry('kube-proxy.conf'),
    kubeRouterKubeconfig: (node) => {
      const e = result.manifest.find((m) => m.file === kubeRouterKubeconfigFile(node))
      return e ? local(e) : undefined
    },
    bootstrapKubeconfig: (token) => kubeconfig({ clusterName: config.name, server, caPem }, 'kubelet-bootstrap', { token }),
  }
  return { bundle, result }
}
