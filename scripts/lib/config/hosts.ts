// Node addresses given as host names (provider ssh): resolved once when a cluster is opened, said
// on stderr, and the IPv4 address used from then on: in SSH, `ip route ... via`, `--node-ip=` and
// certificates, which need an address, and so that every step sees the same one.

import { spawnSync } from 'node:child_process'
import { ConfigError } from '../errors.ts'
import { parseIPv4 } from './cidr.ts'
import type { ClusterConfig } from './types.ts'

/** A host name to one IPv4 address, or an error code (ENOTFOUND, ...). */
export type Lookup = (host: string) => { address: string } | { error: string }

/**
 * The system resolver (getaddrinfo, as ssh uses it: /etc/hosts, then DNS), synchronously in a
 * child Node process so that opening a cluster stays synchronous; 10 s at most.
 */
export const systemLookup: Lookup = (host) => {
  const script = 'require("node:dns").lookup(process.argv[1], { family: 4 }, (e, a) => { if (e) { process.stderr.write(String(e.code)); process.exit(1) } process.stdout.write(a) })'
  const r = spawnSync(process.execPath, ['-e', script, '--', host], { encoding: 'utf8', timeout: 10_000 })
  if (r.status === 0 && parseIPv4(r.stdout) !== undefined) return { address: r.stdout }
  return { error: r.error ? (r.error as NodeJS.ErrnoException).code ?? r.error.message : r.stderr.trim() || `exit ${r.status ?? r.signal}` }
}

/**
 * The config with every node address that is a host name replaced by its IPv4 address (each name
 * looked up once); `say` gets one line per name. A name that does not resolve is a ConfigError.
 */
export function resolveNodeHosts(config: ClusterConfig, say: (line: string) => void, lookup: Lookup = systemLookup): ClusterConfig {
  const named = [...new Set(config.nodes.map((n) => n.address).filter((a) => a !== '' && parseIPv4(a) === undefined))]
  if (named.length === 0) return config
  const found = new Map<string, string>()
  const problems: { path: string; message: string }[] = []
  for (const host of named) {
    const r = lookup(host)
    if ('address' in r) {
      found.set(host, r.address)
      say(`${host} resolved to ${r.address} (once; kubelab uses the address from here on)`)
    } else {
      config.nodes.forEach((n, i) => {
        if (n.address === host) problems.push({ path: `nodes[${i}].address`, message: `${JSON.stringify(host)} does not resolve to an IPv4 address (${r.error})` })
      })
    }
  }
  const nodes = config.nodes.map((n) => (found.has(n.address) ? { ...n, address: found.get(n.address)! } : n))
  // Unique names may still be one machine: addresses must stay unique once resolved.
  nodes.forEach((n, i) => {
    const j = nodes.findIndex((o) => o.address === n.address)
    if (j < i && (found.has(config.nodes[i]!.address) || found.has(config.nodes[j]!.address))) problems.push({ path: `nodes[${i}].address`, message: `${JSON.stringify(config.nodes[i]!.address)} resolves to ${n.address}, the address of nodes[${j}] too; node addresses must be unique` })
  })
  if (problems.length > 0) throw new ConfigError(config.file, problems.map((p) => ({ ...p, location: { file: config.file } })))
  return { ...config, nodes }
}
