// os:resolver — /etc/resolv.conf of machines kubelab made in a lab namespace: the upstream
// resolvers (egress/upstream.ts) reached through the uplink, so containerd pulls and pods with
// dnsPolicy Default resolve names outside the cluster; with egress off, the gateway (it answers
// nothing, so lookups fail at once instead of hanging). Hosts of the ssh provider keep their own.

import { differingFiles, writeFiles, type WantedFile } from '../converge/files.ts'
import type { Step, StepContext } from '../converge/step.ts'
import { machineResolvConf } from '../egress/upstream.ts'
import { providerTraits } from '../providers/traits.ts'
import { INSTALLED_FILES } from '../templates/table.ts'

const file = (ctx: StepContext): WantedFile[] => [{ path: INSTALLED_FILES['resolv.conf'].dest, content: machineResolvConf(ctx.config), mode: INSTALLED_FILES['resolv.conf'].mode }]

export const osResolver: Step = {
  id: 'os:resolver',
  title: 'Pointing the machines at the upstream resolvers',
  on: 'all',
  when: (config) => providerTraits(config.provider.type).labNetwork,
  check: async (ctx, node) => (await differingFiles(node.runner, file(ctx))).length === 0,
  async apply(ctx, node) {
    await writeFiles(node.runner, file(ctx))
  },
}
