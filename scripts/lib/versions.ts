// Kubernetes versions kubelab supports. The artifacts lock (issue: artifacts) pins every file of
// these versions; config validation only needs the range and the default.

/** Oldest and newest supported minor, inclusive. */
export const SUPPORTED_MINORS = { oldest: 34, newest: 35 } as const

/**
 * The default version: the newest that the e2e suite passes on both substrates (nspawn nodes are
 * cgroup v1 here, which kubelet >= 1.35 accepts only with failCgroupV1: false).
 */
export const DEFAULT_KUBERNETES_VERSION = 'v1.35.4'

export interface ParsedVersion {
  major: number
  minor: number
  patch: number
}

export function parseVersion(v: string): ParsedVersion | undefined {
  const m = /^v(\d+)\.(\d+)\.(\d+)$/.exec(v)
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined
}

export function supportedRange(): string {
  return `v1.${SUPPORTED_MINORS.oldest}.x - v1.${SUPPORTED_MINORS.newest}.x`
}

export function isSupported(v: ParsedVersion): boolean {
  return v.major === 1 && v.minor >= SUPPORTED_MINORS.oldest && v.minor <= SUPPORTED_MINORS.newest
}
