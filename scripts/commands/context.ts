// What every command gets: parsed global options, the progress reporter, and stdout; and the
// shape of the flags each command declares (parsed by cli.ts, handed to the handler typed).

import path from 'node:path'
import { openCluster, type Cluster } from '../lib/cluster.ts'
import { loadConfig, type LoadedConfig, type Override } from '../lib/config/load.ts'
import type { Progress } from '../lib/log/progress.ts'

export interface GlobalOptions {
  /** Config file (-c), default ./cluster.config.yaml or $KUBELAB_CONFIG. */
  config: string
  envFile?: string
  json: boolean
  /** Config overrides from --provider, --kubernetes-version, --bundle. */
  overrides: Override[]
}

/** One flag a command declares: its node:util parseArgs spec plus the line `--help` prints. */
export interface FlagDecl {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** The value's placeholder in --help: FILE, DIR, STEP. */
  arg?: string
  /** One line for --help. */
  help: string
  /** What --help shows instead of `-s, --long ARG` (verbose: `-v, -vv, -vvv`). */
  label?: string
}

/** A command's flags by long name ('no-smoke', 'machines-only'). */
export type FlagDecls = Readonly<Record<string, FlagDecl>>

type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S

type FlagValue<F extends FlagDecl> = F extends { multiple: true }
  ? (F extends { type: 'boolean' } ? boolean[] : string[])
  : F extends { type: 'boolean' } ? boolean : string | undefined

/** The values a command gets for its declaration, by camelCase name: booleans are never undefined. */
export type FlagValues<D extends FlagDecls> = { readonly [K in keyof D & string as Camel<K>]: FlagValue<D[K]> }

/** What node:util parseArgs returns as values. */
export type RawFlagValues = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

/** Parsed values -> the typed flags of one declaration (booleans default false, multiples []). */
export function flagValues<D extends FlagDecls>(decls: D, raw: RawFlagValues): FlagValues<D> {
  return Object.fromEntries(Object.entries(decls).map(([name, d]) => {
    const v = raw[name]
    return [camel(name), v ?? (d.multiple ? [] : d.type === 'boolean' ? false : undefined)]
  })) as FlagValues<D>
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
    flags: ctx.options.overrides,
  })
}

/** Rows (the first one the header) as aligned columns. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')
}

export function printJson(ctx: CommandContext, data: unknown): void {
  ctx.out(JSON.stringify(data, null, 2))
}

/** The cluster of the config these options name (lib/cluster.ts). */
export function openClusterFor(ctx: CommandContext): Cluster {
  return openCluster(load(ctx), { env: ctx.env, progress: ctx.progress })
}
