// `kubelab token create [--ttl 1h]`: a bootstrap token on a kubelab control plane, printed with
// what a worker of another config needs to join it in `controlPlane: external` mode (endpoint and
// CA pin), like `kubeadm token create --print-join-command`. The token goes to stdout only.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { UsageError } from '../lib/errors.ts'
import { bootstrapTokenSecret, generateBootstrapToken } from '../lib/pki/bootstrap.ts'
import { caCertHash } from '../lib/pki/certs.ts'
import { hostKubectl } from '../lib/cluster.ts'
import { openClusterFor, type CommandContext, type FlagDecls, type FlagValues } from './context.ts'

export const tokenCreateFlags = {
  ttl: { type: 'string', arg: 'DURATION', help: 'lifetime such as 30m, 2h, 1d (default 1h)' },
} as const satisfies FlagDecls

/** `30m`, `2h`, `1d` -> milliseconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)(m|h|d)$/.exec(text)
  if (!m || Number(m[1]) === 0) throw new UsageError(`--ttl "${text}": use minutes, hours or days such as 30m, 2h, 1d`)
  return Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd']
}

export async function tokenCreateCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof tokenCreateFlags>): Promise<number> {
  const opened = openClusterFor(ctx)
  const { config, stateDir } = opened
  if (config.controlPlane.mode !== 'managed') throw new UsageError(`cluster "${config.name}" does not run its own control plane; make tokens where it runs`)
  const cp = config.nodes.find((n) => n.role === 'control-plane')!
  const ttlMs = parseTtl(flags.ttl ?? '1h')
  const token = generateBootstrapToken()
  const expires = new Date(Date.now() + ttlMs)
  const r = await hostKubectl(opened, ['apply', '-f', '-'], { input: bootstrapTokenSecret(token, expires) })
  if (r.status !== 0) throw new UsageError(`could not create the token: ${r.stderr.trim()}`)
  const join = {
    token,
    expires: expires.toISOString(),
    endpoint: `https://${cp.address}:6443`,
    caCertHash: caCertHash(readFileSync(path.join(stateDir, 'pki', 'ca.crt'), 'utf8')),
  }
  if (ctx.options.json) {
    ctx.out(JSON.stringify(join, null, 2))
    return 0
  }
  ctx.out(token)
  ctx.progress.info([
    `token valid until ${join.expires}; for a worker of another config (reachable from ${config.name}'s lab network):`,
    '  controlPlane:',
    '    mode: external',
    `    endpoint: ${join.endpoint}`,
    '    tokenEnv: KUBELAB_JOIN_TOKEN   # put the token above in .env',
    `    caCertHash: ${join.caCertHash}`,
  ].join('\n'))
  return 0
}
