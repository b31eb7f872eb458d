// HTTP(S)_PROXY / NO_PROXY for containerd (image pulls) and kubelet: a systemd drop-in per unit,
// installed always (an empty [Service] when no proxy is set) so that setting or clearing a proxy is
// one file changing and one restart of exactly those two units.

import type { ClusterConfig } from '../config/types.ts'

/** The drop-in's text for this config (both units get the same). */
export function proxyDropIn(config: ClusterConfig): string {
  const p = config.egress.proxy
  if (!p) return '# kubelab: no proxy configured (egress.proxy, or the host\'s HTTP_PROXY / HTTPS_PROXY when egress is on)\n[Service]\n'
  const vars: [string, string | undefined][] = [['HTTP_PROXY', p.http], ['HTTPS_PROXY', p.https], ['NO_PROXY', p.noProxy.join(',')]]
  // Both spellings (systemd reads % as a specifier: doubled): Go reads upper case, some tools only lower case.
  const lines = vars.flatMap(([k, v]) => (v ? [k, k.toLowerCase()].map((name) => `Environment="${name}=${v.replaceAll('%', '%%')}"`) : []))
  return ['# kubelab: egress.proxy (NO_PROXY completed with the cluster\'s own networks and names)', '[Service]', ...lines, ''].join('\n')
}
