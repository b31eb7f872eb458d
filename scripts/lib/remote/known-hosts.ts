// remote/known-hosts.ts — host keys pinned by the config: an OpenSSH known_hosts file
// (`ssh.knownHosts`) and `SHA256:` fingerprints (`nodes[].hostKey`, `ssh.bastion.hostKey`). The
// file is read the way ssh(1) reads it for a lookup: host patterns (comma lists, `*` and `?`,
// `!negation`), `[host]:port` for a port other than 22, hashed names (`|1|salt|hmac`), `@revoked`
// keys; `@cert-authority` lines are skipped (kubelab does not check host certificates).

import { createHmac } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { fingerprint } from './hostkeys.ts'

export interface KnownHostsEntry {
  readonly marker?: 'revoked' | 'cert-authority'
  readonly patterns: readonly string[]
  readonly keyType: string
  readonly fingerprint: string
  readonly line: number
}

/** What the config pins for one SSH target; `sources` name where (for messages). */
export interface HostKeyPins {
  readonly fingerprints: readonly string[]
  readonly revoked: readonly string[]
  readonly sources: readonly string[]
}

/** Parses a known_hosts text; a line that is not an entry is a problem (`file:line: why`), never skipped silently. */
export function parseKnownHosts(text: string, file: string): { entries: KnownHostsEntry[]; problems: string[] } {
  const entries: KnownHostsEntry[] = []
  const problems: string[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const fields = line.split(/\s+/)
    let marker: KnownHostsEntry['marker']
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!
      if (m !== '@revoked' && m !== '@cert-authority') {
        problems.push(`${file}:${i + 1}: unknown marker ${m}`)
        return
      }
      marker = m.slice(1) as 'revoked' | 'cert-authority'
    }
    const [hosts, keyType, key] = fields
    const blob = key && /^[A-Za-z0-9+/]+={0,2}$/.test(key) ? Buffer.from(key, 'base64') : undefined
    if (!hosts || !keyType || !blob || blob.length < 4) {
      problems.push(`${file}:${i + 1}: not a known_hosts entry (HOSTS KEYTYPE BASE64-KEY [comment])`)
      return
    }
    entries.push({ ...(marker ? { marker } : {}), patterns: hosts.split(','), keyType, fingerprint: fingerprint(blob), line: i + 1 })
  })
  return { entries, problems }
}

/** The name ssh(1) looks up: `host`, or `[host]:port` for another port. */
export function lookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function glob(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.toLowerCase().replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
  return re.test(name.toLowerCase())
}

function hashedMatch(pattern: string, name: string): boolean {
  const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(pattern)
  if (!m) return false
  return createHmac('sha1', Buffer.from(m[1]!, 'base64')).update(name).digest('base64') === m[2]
}

/** Whether an entry's host patterns match `name` (a negated match rules the entry out). */
export function entryMatches(e: KnownHostsEntry, name: string): boolean {
  let hit = false
  for (const p of e.patterns) {
    if (p.startsWith('|')) { hit ||= hashedMatch(p, name); continue }
    const negated = p.startsWith('!')
    if (glob(negated ? p.slice(1) : p, name)) {
      if (negated) return false
      hit = true
    }
  }
  return hit
}

/** The fingerprints a known_hosts file gives for host:port (host certificates aside). */
export function knownHostKeys(entries: readonly KnownHostsEntry[], host: string, port: number): { fingerprints: string[]; revoked: string[] } {
  const name = lookupName(host, port)
  const fingerprints: string[] = []
  const revoked: string[] = []
  for (const e of entries) {
    if (e.marker === 'revoked') { revoked.push(e.fingerprint); continue } // revoked keys apply to every host
    if (e.marker === 'cert-authority' || !entryMatches(e, name)) continue
    fingerprints.push(e.fingerprint)
  }
  return { fingerprints, revoked }
}

/** The key type named in an SSH public key blob (its first string), e.g. `ssh-ed25519`. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown'
  const n = blob.readUInt32BE(0)
  return n > 0 && n < 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString('latin1') : 'unknown'
}

const MAX_KNOWN_HOSTS = 4 << 20

/** Reads and parses a known_hosts file; throws an Error saying what is wrong with it (missing, not a file, bad lines). */
export function readKnownHosts(file: string): KnownHostsEntry[] {
  let st
  try {
    st = statSync(file)
  } catch {
    throw new Error(`file not found: ${file}`)
  }
  if (!st.isFile()) throw new Error(`must be a file (OpenSSH known_hosts); got ${st.isDirectory() ? 'a directory' : 'not a regular file'}: ${file}`)
  if (st.size > MAX_KNOWN_HOSTS) throw new Error(`${file} is ${st.size} bytes; a known_hosts file over ${MAX_KNOWN_HOSTS} bytes is refused`)
  const { entries, problems } = parseKnownHosts(readFileSync(file, 'utf8'), file)
  if (problems.length) throw new Error(problems.length === 1 ? problems[0]! : `${problems.length} bad lines, the first ${problems[0]}`)
  return entries
}

/** For validation: why the file cannot serve as ssh.knownHosts, or undefined. */
export function knownHostsProblem(file: string): string | undefined {
  try {
    readKnownHosts(file)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}
