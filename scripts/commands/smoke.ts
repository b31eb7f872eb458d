// `kubelab smoke [--junit FILE] [--json] [--keep]`: the smoke suite (smoke/run.ts) against the
// live cluster; `up` runs the same suite at its end unless --no-smoke.

import { withClusterLock } from '../lib/cluster.ts'
import { runSmokeSuite } from '../lib/smoke/run.ts'
import { openClusterFor, printJson, type CommandContext, type FlagDecls, type FlagValues } from './context.ts'

export const smokeFlags = {
  junit: { type: 'string', arg: 'FILE', help: 'write the JUnit report to FILE' },
  keep: { type: 'boolean', help: 'leave the smoke workloads (namespace kubelab-smoke) for debugging' },
  check: { type: 'string', arg: 'ID,...', help: 'run only these checks (ids as --json prints them, e.g. network-policy,dns)' },
} as const satisfies FlagDecls

export async function smokeCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof smokeFlags>): Promise<number> {
  const c = openClusterFor(ctx)
  const out = await withClusterLock(c, 'smoke', () => runSmokeSuite(c, { keep: flags.keep, ...(flags.junit ? { junit: flags.junit } : {}), ...(flags.check ? { only: flags.check.split(',').map((x) => x.trim()).filter(Boolean) } : {}) }))
  if (ctx.options.json) {
    printJson(ctx, { cluster: c.config.name, passed: out.results.length - out.failed, failed: out.failed, checks: out.results, ...(out.junit ? { junit: out.junit } : {}), ...(out.logs ? { logs: out.logs } : {}) })
  }
  return out.failed ? 1 : 0
}
