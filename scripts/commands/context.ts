// What every command gets: parsed global options, the progress reporter, and stdout.

import path from 'node:path'
import { openCluster, type Cluster } from '../lib/cluster.ts'
import { loadConfig, type LoadedConfig, type Override } from '../lib/config/load.ts'
import type { Progress } from '../lib/log/progress.ts'

export interface GlobalOptions {
  /** Config file (-c), default ./cluster.config.yaml or $KUBELAB_CONFIG. */
  config: string
  envFile?: string
  json: boolean
  /** `up --machines-only`: provision machines, install nothing. */
  machinesOnly: boolean
  /** `up --until STEP`: converge up to and including this step, then stop. */
  until?: string
  /** `up --prune`: remove machines kubelab made whose nodes are no longer in the config. */
  prune?: boolean
  /** Overrides from flags such as --provider. */
  flags: Override[]
}

/** Options only some commands read. */
export interface CommandFlags {
  /** bundle -o FILE */
  output?: string
  /** artifacts: node architecture */
  arch?: string
  /** smoke --keep: leave the workloads for debugging */
  keep?: boolean
  /** up --no-smoke */
  noSmoke?: boolean
  /** token create --ttl */
  ttl?: string
  /** kubeconfig --merge */
  merge?: boolean
  /** upgrade --os: the nodes' OS packages instead of Kubernetes */
  os?: boolean
  /** conformance --mode, --focus, --junit */
  mode?: string
  focus?: string
  junit?: string
}

export interface CommandContext {
  options: GlobalOptions
  progress: Progress
  /** Machine output (--json) and the command's own result text. */
  out: (text: string) => void
  env: Readonly<Record<string, string | undefined>>
}

export function load(ctx: CommandContext): LoadedConfig {
  return loadConfig(path.resolve(ctx.options.config), {
    display: ctx.options.config,
    env: ctx.env,
    ...(ctx.options.envFile ? { envFile: path.resolve(ctx.options.envFile) } : {}),
    flags: ctx.options.flags,
  })
}

export function printJson(ctx: CommandContext, data: unknown): void {
  ctx.out(JSON.stringify(data, null, 2))
}

/** The cluster of the config these options name (lib/cluster.ts). */
export function openClusterFor(ctx: CommandContext): Cluster {
  return openCluster(load(ctx), { env: ctx.env, progress: ctx.progress })
}
