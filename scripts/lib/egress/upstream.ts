// Where names outside the cluster domain are resolved: what CoreDNS forwards to and what the lab's
// machines put in /etc/resolv.conf. Read on the host when the steps need it (a file read, no probe).

import { existsSync, readFileSync } from 'node:fs'
import type { ClusterConfig } from '../config/types.ts'

export type Upstream =
  /** Egress off, or no usable resolver found: every other name is NXDOMAIN, at once. */
  | { readonly via: 'none'; readonly why: string }
  /** These resolvers, reached through the uplink (or the machines' own network). */
  | { readonly via: 'servers'; readonly servers: readonly string[]; readonly from: string }
  /** Machines on a network of their own (ssh hosts, multipass): the node's /etc/resolv.conf, as kubeadm does. */
  | { readonly via: 'node' }

/** The `nameserver` lines of a resolv.conf that are not loopback (a local stub is not reachable from a lab). */
export function nameservers(text: string): string[] {
  return text.split('\n').flatMap((line) => {
    const m = /^\s*nameserver\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$/.exec(line)
    return m && !m[1]!.startsWith('127.') ? [m[1]!] : []
  })
}

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '')

/**
 * The upstream of this config. Configured resolvers win; else, through the uplink, the resolv.conf
 * of where it leads: `/etc/netns/NAME/resolv.conf` for KUBELAB_UPLINK_NETNS=NAME (what `ip netns
 * exec` shows there), else the host's, or systemd-resolved's list behind a 127.0.0.53 stub.
 */
export function upstream(config: ClusterConfig, readFile: (file: string) => string = read): Upstream {
  const e = config.egress
  if (!e.enabled) return { via: 'none', why: 'egress is off (KUBELAB_EGRESS=off or egress.enabled: false)' }
  if (e.dns.length > 0) return { via: 'servers', servers: e.dns, from: 'egress.dns / KUBELAB_DNS' }
  if (!e.uplink) return { via: 'node' }
  const files = [...(e.uplink.netns ? [`/etc/netns/${e.uplink.netns}/resolv.conf`] : []), '/etc/resolv.conf', '/run/systemd/resolve/resolv.conf']
  for (const file of files) {
    const servers = nameservers(readFile(file))
    if (servers.length > 0) return { via: 'servers', servers, from: file }
  }
  return { via: 'none', why: `no non-loopback nameserver in ${files.join(', ')}; set egress.dns or KUBELAB_DNS` }
}

/** One line for status, doctor and the logs bundle. */
export function describeUpstream(u: Upstream): string {
  return u.via === 'servers' ? `${u.servers.join(', ')} (from ${u.from})` : u.via === 'node' ? "each node's /etc/resolv.conf" : `none: ${u.why}`
}

/**
 * /etc/resolv.conf of a machine in a lab namespace: the upstream resolvers, or with none the
 * gateway (it answers nothing, so lookups fail at once instead of hanging). The provider writes it
 * when it starts a machine and os:resolver keeps it, so both write the same text.
 */
export function machineResolvConf(config: ClusterConfig): string {
  const u = upstream(config)
  if (u.via !== 'servers') return `# kubelab: no upstream resolver (${u.via === 'none' ? u.why : 'none'})\nnameserver ${config.provider.gateway}\noptions timeout:1 attempts:1\n`
  return `# kubelab: upstream resolvers from ${u.from}\n${u.servers.map((s) => `nameserver ${s}`).join('\n')}\noptions timeout:2 attempts:2\n`
}
