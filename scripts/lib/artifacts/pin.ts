// `kubelab artifacts lock`: fills every `sha256: null` of the versions lock from the checksum files
// upstream publishes next to each asset. An existing pin that disagrees with upstream is never
// overwritten: it is reported as a mismatch. The YAML is edited in place (comments kept).

import { readFile } from 'node:fs/promises'
import { parseDocument } from 'yaml'
import { ArtifactError } from '../errors.ts'
import { writeFileAtomic } from '../host/files.ts'
import type { HttpClient } from './fetch.ts'
import { ARCHES, assetBasename, checksumUrl, parseChecksumFile, parseLock, type Arch } from './lock.ts'

export interface PinResult {
  readonly minor: string
  readonly component: string
  readonly version: string
  readonly arch: Arch
  readonly status: 'pinned' | 'unchanged' | 'mismatch' | 'failed'
  readonly sha256?: string
  readonly detail?: string
}

export async function pinLock(file: string, http: HttpClient, options: { arches?: readonly Arch[] } = {}): Promise<PinResult[]> {
  const text = await readFile(file, 'utf8')
  const lock = parseLock(text, file)
  const doc = parseDocument(text)
  const results: PinResult[] = []
  const texts = new Map<string, Promise<string>>()
  let changed = false
  for (const m of lock.minors) {
    for (const c of m.components.filter((x) => x.url !== undefined)) {
      for (const arch of options.arches ?? ARCHES) {
        const base = { minor: m.minor, component: c.name, version: c.version, arch }
        const url = checksumUrl(c, arch)
        let sum: string | undefined
        try {
          if (!texts.has(url)) texts.set(url, http.text(url))
          sum = parseChecksumFile(await texts.get(url)!, assetBasename(c, arch))
        } catch (err) {
          results.push({ ...base, status: 'failed', detail: (err as Error).message.split('\n')[0]! })
          continue
        }
        if (!sum) {
          results.push({ ...base, status: 'failed', detail: `${url} lists no ${assetBasename(c, arch)}` })
          continue
        }
        const pin = c.sha256[arch]
        if (pin === sum) results.push({ ...base, status: 'unchanged', sha256: sum })
        else if (pin) results.push({ ...base, status: 'mismatch', sha256: sum, detail: `lock has ${pin}, upstream publishes ${sum}` })
        else {
          doc.setIn(['minors', m.minor, 'components', c.name, 'sha256', arch], sum)
          changed = true
          results.push({ ...base, status: 'pinned', sha256: sum })
        }
      }
    }
  }
  if (changed) {
    const out = doc.toString({ lineWidth: 0 })
    parseLock(out, file) // never write a lock we could not read back
    writeFileAtomic(file, out, { mode: 0o644 })
  }
  return results
}

/** An error summarising mismatches and failures, or undefined when everything is pinned. */
export function pinProblems(results: readonly PinResult[]): ArtifactError | undefined {
  const bad = results.filter((r) => r.status === 'mismatch' || r.status === 'failed')
  if (!bad.length) return undefined
  const mismatches = bad.filter((r) => r.status === 'mismatch').length
  return new ArtifactError(
    `${bad.length} lock entr${bad.length === 1 ? 'y' : 'ies'} not pinned (${mismatches} mismatch${mismatches === 1 ? '' : 'es'}):\n  `
      + bad.map((r) => `${r.minor} ${r.component} ${r.version} ${r.arch}: ${r.status}: ${r.detail}`).join('\n  '),
    {},
    { hint: mismatches ? 'a pin that differs from upstream is kept: find out which side changed before editing the lock' : 'rerun when upstream is reachable' },
  )
}
