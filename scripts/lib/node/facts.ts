// Substrate detection on each node, in one round trip: what kind of machine this is decides parts
// of the generated configs (cgroup v1, whether a negative oom_score_adj is allowed, whether
// nf_conntrack_max is writable). Recorded for `status`.

import type { Runner } from '../remote/types.ts'
import type { Substrate } from '../templates/files.ts'

const SCRIPT = `
[ -f /sys/fs/cgroup/cgroup.controllers ] && echo cgroup=2 || echo cgroup=1
( echo -999 > /proc/self/oom_score_adj ) 2>/dev/null && echo oom=ok || echo oom=refused
f=/proc/sys/net/netfilter/nf_conntrack_max
if [ -w "$f" ] && ( cat "$f" > "$f" ) 2>/dev/null; then echo conntrack=rw; else echo conntrack=ro; fi
echo virt=$(systemd-detect-virt 2>/dev/null || echo none)
`

export interface NodeFacts extends Substrate {
  /** systemd-detect-virt: none, kvm, qemu, systemd-nspawn, ... */
  readonly virt: string
}

export function parseNodeFacts(text: string): NodeFacts {
  const kv = Object.fromEntries(text.trim().split('\n').map((l) => l.split('=', 2) as [string, string]))
  return {
    cgroupV1: kv.cgroup === '1',
    restrictOomScoreAdj: kv.oom !== 'ok',
    conntrackReadOnly: kv.conntrack !== 'rw',
    virt: kv.virt ?? 'unknown',
  }
}

export async function detectFacts(runner: Runner): Promise<NodeFacts> {
  return parseNodeFacts((await runner.run(SCRIPT)).stdout)
}
