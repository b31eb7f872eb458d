// The lab's way out (egress): a veth pair from the lab namespace to the host's own namespace, or to
// the namespace KUBELAB_UPLINK_NETNS names, set up the same way towards either. The lab end is the
// lab's default route and source-NATs what leaves through it to its own address; the far end
// forwards and NATs it on (towards the host: out of the host's default route). Everything on the
// far end is one veth and rules carrying the comment `kubelab:<cluster>`, remembered in the state
// so `down` (or egress turned off) removes exactly that, and turns IP forwarding off again if it
// was kubelab that turned it on.

import { createHash } from 'node:crypto'
import { switchValue } from '../../config/load.ts'
import type { EgressConfig } from '../../config/types.ts'
import type { PreflightCheck } from '../../errors.ts'
import { host, hostOk } from '../../host/exec.ts'
import { netnsExists } from './network.ts'
import type { StateStore, UplinkRecord } from './state.ts'

/** KUBELAB_EGRESS=off in this process's environment. */
export const egressForcedOff = (env: Readonly<Record<string, string | undefined>> = process.env) => switchValue(env.KUBELAB_EGRESS ?? '') === false

/** The lab end of the pair (in the lab namespace). */
export const UPLINK = 'kl-up0'

type Want = NonNullable<EgressConfig['uplink']>

/** The far end's name: per cluster, so two clusters' uplinks can share the host (at most 15 characters). */
export function peerName(cluster: string): string {
  return `klu${createHash('sha256').update(cluster).digest('hex').slice(0, 10)}`
}

/** `ip netns exec NAME` for a namespace, nothing for the host's own. */
const inNs = (netns?: string): string[] => (netns ? ['ip', 'netns', 'exec', netns] : [])

/** iptables rules as argument lists after `-t TABLE -X CHAIN`. */
function peerRules(rec: UplinkRecord): { table: string; chain: string; spec: string[] }[] {
  const tag = ['-m', 'comment', '--comment', rec.comment]
  return [
    { table: 'nat', chain: 'POSTROUTING', spec: ['-s', rec.cidr, '!', '-o', rec.peer, ...tag, '-j', 'MASQUERADE'] },
    { table: 'filter', chain: 'FORWARD', spec: ['-i', rec.peer, ...tag, '-j', 'ACCEPT'] },
    { table: 'filter', chain: 'FORWARD', spec: ['-o', rec.peer, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'] },
  ]
}
const LAB_NAT = ['-o', UPLINK, '-j', 'MASQUERADE']

/** Adds the rule unless it is there; first in its chain (a FORWARD policy of DROP, as Docker sets, must not stop it). */
async function ensureRule(ns: string[], table: string, chain: string, spec: string[]): Promise<void> {
  if (await hostOk`${ns} iptables -w -t ${table} -C ${chain} ${spec}`) return
  await host`${ns} iptables -w -t ${table} -I ${chain} 1 ${spec}`
}

async function deleteRule(ns: string[], table: string, chain: string, spec: string[]): Promise<void> {
  for (let i = 0; i < 10 && await hostOk`${ns} iptables -w -t ${table} -C ${chain} ${spec}`; i++) {
    await host`${ns} iptables -w -t ${table} -D ${chain} ${spec}`
  }
}

/** Makes the uplink as `want` says (idempotent) and returns what to remember. */
async function ensureUplink(lab: string, cluster: string, want: Want, prev: UplinkRecord | undefined): Promise<UplinkRecord> {
  if (want.netns && !netnsExists(want.netns)) {
    throw new Error(`egress.uplinkNetns (KUBELAB_UPLINK_NETNS) names network namespace ${want.netns}, which does not exist (ip netns list); create it or unset it`)
  }
  const peer = peerName(cluster)
  const far = inNs(want.netns)
  const prefix = want.cidr.split('/')[1]
  const labNs = ['ip', 'netns', 'exec', lab]
  if (!(await hostOk`ip -n ${lab} link show ${UPLINK}`)) {
    await host`${far} ip link del ${peer}`.catch(() => undefined) // a half-made pair from an interrupted run
    await host`${far} ip link add ${peer} type veth peer name ${UPLINK} netns ${lab}`
  }
  await host`${far} ip addr replace ${`${want.peerAddress}/${prefix}`} dev ${peer}`
  await host`${far} ip link set ${peer} up`
  await host`ip -n ${lab} addr replace ${`${want.labAddress}/${prefix}`} dev ${UPLINK}`
  await host`ip -n ${lab} link set ${UPLINK} up`
  await host`ip -n ${lab} route replace default via ${want.peerAddress} dev ${UPLINK}`
  await host`${labNs} sysctl -qw net.ipv4.ip_forward=1`
  await ensureRule(labNs, 'nat', 'POSTROUTING', LAB_NAT)

  const forwarding = (await host`${far} sysctl -n net.ipv4.ip_forward`).stdout.trim() === '1'
  const rec: UplinkRecord = {
    ...(want.netns ? { netns: want.netns } : {}),
    peer,
    cidr: want.cidr,
    comment: `kubelab:${cluster}`,
    forwardingWasOff: prev?.forwardingWasOff ?? !forwarding,
  }
  if (!forwarding) await host`${far} sysctl -qw net.ipv4.ip_forward=1`
  for (const r of peerRules(rec)) await ensureRule(far, r.table, r.chain, r.spec)
  return rec
}

/** Removes what ensureUplink made (the lab side too, for a lab that stays); tolerates parts already gone. */
export async function removeUplink(lab: string, rec: UplinkRecord): Promise<void> {
  if (netnsExists(lab)) {
    const labNs = ['ip', 'netns', 'exec', lab]
    await deleteRule(labNs, 'nat', 'POSTROUTING', LAB_NAT)
    await host`ip -n ${lab} link del ${UPLINK}`.catch(() => undefined)
  }
  if (rec.netns && !netnsExists(rec.netns)) return // the far namespace is gone, and with it its end
  const far = inNs(rec.netns)
  for (const r of peerRules(rec)) await deleteRule(far, r.table, r.chain, r.spec)
  await host`${far} ip link del ${rec.peer}`.catch(() => undefined)
  // Forwarding back off only if kubelab turned it on and no other kubelab uplink is left there.
  const others = (await host`${far} ip -o link show type veth`).stdout.split('\n').some((l) => / klu[0-9a-f]{10}[@:]/.test(l))
  if (rec.forwardingWasOff && !others) await host`${far} sysctl -qw net.ipv4.ip_forward=0`
}

/**
 * Brings the uplink of the lab to what the config wants: made (or remade where its target or link
 * network changed), or removed when egress is off. The state remembers what exists.
 */
export async function convergeUplink(lab: string, cluster: string, wanted: EgressConfig['uplink'], state: StateStore, provider: string): Promise<void> {
  // The process's own KUBELAB_EGRESS=off always wins, whatever environment the config was resolved
  // with (a test or script passing its own env object): no uplink is made, an existing one goes.
  const want = egressForcedOff() ? undefined : wanted
  const prev = state.read(cluster, provider).uplink
  if (prev && (!want || prev.netns !== want.netns || prev.cidr !== want.cidr)) {
    await removeUplink(lab, prev)
    state.update(cluster, provider, (s) => { delete s.uplink })
  }
  if (!want) return
  const rec = await ensureUplink(lab, cluster, want, prev && prev.netns === want.netns && prev.cidr === want.cidr ? prev : undefined)
  state.update(cluster, provider, (s) => { s.uplink = rec })
}

/** On `down`: the uplink the state remembers, removed. */
export async function destroyUplink(lab: string, cluster: string, state: StateStore, provider: string): Promise<void> {
  const rec = state.read(cluster, provider).uplink
  if (!rec) return
  await removeUplink(lab, rec)
  state.update(cluster, provider, (s) => { delete s.uplink })
}

/** What the uplink needs of the host (egress on): iptables, and the named namespace where one is named. */
export async function uplinkPreflight(want: EgressConfig['uplink']): Promise<PreflightCheck[]> {
  if (!want) return []
  const iptables = await hostOk`command -v iptables`
  const checks: PreflightCheck[] = [{ name: 'egress: iptables', ok: iptables, detail: iptables ? 'found (NAT for the uplink)' : 'not found', ...(iptables ? {} : { fix: 'apt-get install -y iptables, or KUBELAB_EGRESS=off', packages: ['iptables'] }) }]
  if (want.netns) {
    const ok = netnsExists(want.netns)
    checks.push({ name: 'egress: uplink namespace', ok, detail: ok ? `${want.netns} exists` : `network namespace ${want.netns} does not exist`, ...(ok ? {} : { fix: `ip netns add ${want.netns}, or unset KUBELAB_UPLINK_NETNS / egress.uplinkNetns` }) })
  }
  return checks
}
