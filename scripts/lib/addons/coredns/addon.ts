// addons.coredns (default on, as everywhere): the cluster DNS. Its smoke check is the suite's DNS
// check (smoke/checks/network.ts), which the Service checks around it share fixtures with.

import type { Addon } from '../types.ts'
import { addonsCoredns } from './step.ts'

export const coredns: Addon = {
  name: 'coredns',
  summary: 'cluster DNS: kube-dns at kubernetes.dnsServiceIP, other names upstream (egress)',
  upstream: 'github.com/coredns/coredns',
  steps: [addonsCoredns],
  checks: [],
}
