// What the converge steps take from the host, prepared the same way by `up`, `plan` (live) and the
// lifecycle operations: every local image nodes import, and the managed control plane's PKI.

import path from 'node:path'
import type { Artifact } from '../artifacts/resolve.ts'
import type { ClusterConfig } from '../config/types.ts'
import { ensureSandboxImage, type LocalImage } from '../images/sandbox.ts'
import { ensureWorkloadImages } from '../images/workloads.ts'
import type { Progress } from '../log/progress.ts'
import { pkiBundle } from '../pki/bundle.ts'
import type { PkiBundle } from './types.ts'

/** The sandbox image and the workload images (testbox, coredns), built once into the cache. */
export async function localImages(cacheDir: string, artifacts: readonly Artifact[], progress: Progress): Promise<LocalImage[]> {
  return [await ensureSandboxImage(cacheDir, progress), ...await ensureWorkloadImages(cacheDir, artifacts, progress)]
}

/**
 * The managed control plane's PKI from the store in `dir` (issued or kept), with the admin
 * kubeconfig aimed at the loopback forward; undefined with an external control plane.
 */
export async function managedPki(dir: string, config: ClusterConfig): Promise<{ bundle: PkiBundle; changed: number } | undefined> {
  const cp = config.nodes.find((n) => n.role === 'control-plane')
  if (config.controlPlane.mode !== 'managed' || !cp) return undefined
  const { bundle, result } = await pkiBundle(dir, config, cp, { adminServer: 'https://127.0.0.1:6443', extraSans: ['127.0.0.1'] })
  return { bundle, changed: result.changed.length }
}

/** The store's usual place in the cluster state. */
export const pkiDir = (stateDir: string) => path.join(stateDir, 'pki')
