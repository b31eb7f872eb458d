// What the converge steps take from the host, prepared once and the same way by `up`, `plan`
// (live) and the lifecycle operations: the verified binaries, every local image nodes import, and
// for a managed control plane its PKI and the join token. Steps hand each other no values: what
// one needs from another's work is here, or on the node.

import path from 'node:path'
import { resolveArtifacts, type Artifact } from '../artifacts/resolve.ts'
import type { ClusterConfig } from '../config/types.ts'
import { NotMadeError, type WouldMake } from '../errors.ts'
import { readJsonFile, writeJsonFile } from '../host/files.ts'
import { ensureSandboxImage, type LocalImage } from '../images/sandbox.ts'
import { ensureWorkloadImages } from '../images/workloads.ts'
import { Progress } from '../log/progress.ts'
import { generateBootstrapToken } from '../pki/bootstrap.ts'
import { pkiBundle } from '../pki/bundle.ts'
import type { JoinToken, PkiBundle, StepInputs } from './step.ts'

/** The sandbox image and the workload images (testbox, coredns), built once into the cache. */
export async function localImages(cacheDir: string, artifacts: readonly Artifact[], progress: Progress, o: { readOnly?: boolean } = {}): Promise<LocalImage[]> {
  return [await ensureSandboxImage(cacheDir, progress, o), ...await ensureWorkloadImages(cacheDir, artifacts, progress, o)]
}

/**
 * What the cache lacks for this config (binaries, then images): what `up` would build, download or
 * unpack first, with the last build's time. Looks only; never builds or downloads anything.
 */
export async function cacheGaps(config: ClusterConfig, cacheDir: string): Promise<WouldMake[]> {
  const quiet = new Progress({ sink: { write: () => true } })
  try {
    await localImages(cacheDir, await resolveArtifacts(config, { progress: quiet, readOnly: true }), quiet, { readOnly: true })
    return []
  } catch (err) {
    if (err instanceof NotMadeError) return [...err.missing]
    throw err
  }
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

const TOKEN_TTL_MS = 60 * 60_000
/** A token with less time left than this is replaced before nodes join with it. */
const MIN_LEFT_MS = 15 * 60_000
const tokenFile = (stateDir: string) => path.join(stateDir, 'bootstrap-token.json')

/**
 * The join token of this cluster: the one the last `up` made while it has enough time left, else a
 * fresh one (1 h), remembered in the state unless `keep` is false (a dry run). cp:bootstrap creates
 * its Secret when a node still has to join; kubelet:config writes it into the bootstrap kubeconfig.
 */
export function joinToken(stateDir: string, o: { keep: boolean; now?: number }): JoinToken {
  const now = o.now ?? Date.now()
  const t = readJsonFile<{ token?: string; expires?: string }>(tokenFile(stateDir), 'the join token')
  if (t && typeof t.token === 'string' && typeof t.expires === 'string' && Date.parse(t.expires) - now > MIN_LEFT_MS) return { token: t.token, expires: new Date(t.expires) }
  const fresh = { token: generateBootstrapToken(), expires: new Date(now + TOKEN_TTL_MS) }
  if (o.keep) writeJsonFile(tokenFile(stateDir), { token: fresh.token, expires: fresh.expires.toISOString() })
  return fresh
}

export interface InputsOptions {
  config: ClusterConfig
  stateDir: string
  cacheDir: string
  progress: Progress
  /** Where the PKI store is (default: the cluster state; live `plan` passes a throwaway copy). */
  pkiDir?: string
  /** false for a dry run: nothing new is remembered in the state, and nothing is built or downloaded (NotMadeError). Default true. */
  keep?: boolean
  /** Wraps each part (timings, progress lines); default: runs it. */
  phase?: <T>(name: 'artifacts' | 'images' | 'pki', title: string, fn: () => Promise<T>, detail: (r: T) => string) => Promise<T>
}

/** Every host-side input of the steps for this config. */
export async function stepInputs(o: InputsOptions): Promise<StepInputs> {
  const phase = o.phase ?? ((_name, _title, fn) => fn())
  const { config, progress } = o
  const artifacts = await phase('artifacts', `Resolving verified binaries for Kubernetes ${config.kubernetes.version}`,
    () => resolveArtifacts(config, { progress, readOnly: o.keep === false }), (a) => `${a.length} files`)
  const images = await phase('images', 'Preparing local images', () => localImages(o.cacheDir, artifacts, progress, { readOnly: o.keep === false }), (i) => `${i.length} images`)
  if (config.controlPlane.mode !== 'managed') return { artifacts, images }
  const pki = await phase('pki', 'Issuing the cluster PKI (kept in the cluster state)',
    () => managedPki(o.pkiDir ?? pkiDir(o.stateDir), config), (r) => (r?.changed ? `${r.changed} files written` : 'unchanged'))
  return { artifacts, images, ...(pki ? { pki: pki.bundle } : {}), joinToken: joinToken(o.stateDir, { keep: o.keep ?? true }) }
}
