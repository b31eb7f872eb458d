// What `status`, `doctor` and the logs bundle say about a cluster's traffic in and out: the egress
// state (uplink, upstream resolvers, proxy), the configured registries and the local registry.
// From the config and the host's files only: no node is asked. Secrets never appear (proxy user
// info is cut, credentials are named by their variables).

import type { ClusterConfig } from '../config/types.ts'
import type { UplinkRecord } from '../providers/common/state.ts'
import { describeUpstream, upstream } from './upstream.ts'

export interface NetworkSummary {
  egress: {
    enabled: boolean
    /** Where the uplink leads ("the host's namespace" / "namespace NAME") and its link network; null without one. */
    uplink: { to: string; cidr: string; natAddress: string; made?: boolean } | null
    dns: string
    proxy: { http?: string; https?: string; noProxy: string } | null
  }
  registries: { host: string; mirrors: string[]; ca: boolean; insecure: boolean; credentials?: string }[]
  localRegistry: { enabled: boolean; push?: string }
}

/** `http://user:pass@proxy:3128` -> `http://proxy:3128`. */
export function withoutUserInfo(url: string): string {
  return url.replace(/^(https?:\/\/)[^@/]*@/, '$1')
}

/** `state`: what the provider's state remembers (status); absent where not looked at (doctor). */
export function networkSummary(config: ClusterConfig, state?: { uplink?: UplinkRecord }): NetworkSummary {
  const e = config.egress
  const u = e.uplink
  const p = e.proxy
  return {
    egress: {
      enabled: e.enabled,
      uplink: u ? { to: u.netns ? `namespace ${u.netns}` : "the host's namespace", cidr: u.cidr, natAddress: u.labAddress, ...(state ? { made: state.uplink?.cidr === u.cidr && state.uplink.netns === u.netns } : {}) } : null,
      dns: describeUpstream(upstream(config)),
      proxy: p ? { ...(p.http ? { http: withoutUserInfo(p.http) } : {}), ...(p.https ? { https: withoutUserInfo(p.https) } : {}), noProxy: p.noProxy.join(',') } : null,
    },
    registries: config.registries.map((r) => ({
      host: r.host,
      mirrors: [...r.mirrors],
      ca: r.ca !== undefined,
      insecure: r.insecure,
      ...(r.credentials ? { credentials: `from $${r.credentials.usernameEnv} / $${r.credentials.passwordEnv}` } : {}),
    })),
    localRegistry: config.addons.registry.enabled
      ? { enabled: true, push: `localhost:${config.addons.registry.port}` }
      : { enabled: false },
  }
}

/** The same as text lines (status, doctor). */
export function summaryLines(s: NetworkSummary): string[] {
  const e = s.egress
  const lines = [
    `egress: ${!e.enabled ? 'off (no uplink; names outside the cluster are NXDOMAIN)' : e.uplink ? `uplink to ${e.uplink.to} (${e.uplink.cidr}, NAT to ${e.uplink.natAddress})${e.uplink.made === false ? ' - not made yet (run: npx kubelab up)' : ''}` : "on (the machines' own network)"}`,
    `  upstream DNS: ${e.dns}`,
  ]
  if (e.proxy) lines.push(`  proxy: ${[e.proxy.http && `http ${e.proxy.http}`, e.proxy.https && `https ${e.proxy.https}`].filter(Boolean).join(', ')}; no proxy for ${e.proxy.noProxy}`)
  lines.push(`local registry: ${s.localRegistry.enabled ? `push to ${s.localRegistry.push}, pods pull ${s.localRegistry.push}/NAME:TAG` : 'off (addons.registry)'}`)
  for (const r of s.registries) {
    const what = [r.mirrors.length ? `mirrors ${r.mirrors.join(', ')}` : '', r.ca ? 'own CA' : '', r.insecure ? 'plain http' : '', r.credentials ? `credentials ${r.credentials}` : ''].filter(Boolean)
    lines.push(`registry ${r.host}: ${what.join('; ') || 'defaults'}`)
  }
  return lines
}
