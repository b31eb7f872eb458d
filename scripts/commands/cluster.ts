// `kubelab kubeconfig [--merge]` and `kubelab kubectl -- ARGS`: admin access from the user's own
// shell, through the API server's 127.0.0.1 forward (the certificate covers 127.0.0.1; lib/cluster.ts).

import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { hostKubeconfig, hostKubectl, mergeKubeconfig } from '../lib/cluster.ts'
import { StateError } from '../lib/errors.ts'
import { writeFileAtomic } from '../lib/host/files.ts'
import { openClusterFor, type CommandContext, type FlagDecls, type FlagValues } from './context.ts'

export const kubeconfigFlags = {
  merge: { type: 'boolean', help: 'merge into ~/.kube/config (or $KUBECONFIG) as kubelab-<cluster>' },
} as const satisfies FlagDecls

export async function kubeconfigCommand(ctx: CommandContext, _args: string[], flags: FlagValues<typeof kubeconfigFlags>): Promise<number> {
  const text = await hostKubeconfig(openClusterFor(ctx))
  if (!flags.merge) {
    ctx.out(text)
    return 0
  }
  // Like kind: merge into ~/.kube/config (or $KUBECONFIG's first file), replacing our own entries.
  const target = (ctx.env.KUBECONFIG ?? '').split(':')[0] || path.join(ctx.env.HOME ?? os.homedir(), '.kube', 'config')
  const name = (parse(text) as { 'current-context': string })['current-context']
  // It holds the admin key: written atomically (a crash keeps the old file whole) and 0600 even
  // when an older file was 0644.
  const theirs = readIfExists(target)
  let merged: string
  try {
    merged = mergeKubeconfig(theirs, text)
  } catch (err) {
    throw new StateError(target, 'your kubeconfig', `not a kubeconfig kubelab can merge into (${(err as Error).message.split('\n')[0]})`, {
      hint: `fix or move ${target}, or write kubelab's alone: kubelab kubeconfig > FILE`,
    })
  }
  writeFileAtomic(target, merged, { mode: 0o600 })
  ctx.progress.info(`✓ merged context "${name}" into ${target} and made it current`)
  return 0
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export async function kubectlCommand(ctx: CommandContext, args: string[]): Promise<number> {
  return (await hostKubectl(openClusterFor(ctx), args)).status
}
