// The CLI dispatcher: the command table (each command with its own flags), global flags, help,
// then picks the command, parses its flags, runs it, and reports errors once.
// Exit codes: 0 success, 1 failure (reported), 2 usage error.

import path from 'node:path'
import { parseArgs } from 'node:util'
import { artifactsBuildCommand, artifactsFetchCommand, artifactsFlags, artifactsListCommand, artifactsLockCommand, artifactsLockFlags, bundleCommand, bundleFlags } from './commands/artifacts.ts'
import { configSchemaCommand, configValidateCommand } from './commands/config.ts'
import { flagValues, type CommandContext, type FlagDecl, type FlagDecls, type FlagValues, type GlobalOptions, type RawFlagValues } from './commands/context.ts'
import { completionCommand, type CompletionCommand } from './commands/completion.ts'
import { clustersCommand, versionCommand } from './commands/host.ts'
import { kubeconfigCommand, kubeconfigFlags, kubectlCommand } from './commands/cluster.ts'
import { tokenCreateCommand, tokenCreateFlags } from './commands/token.ts'
import { addonsCommand } from './commands/addons.ts'
import { smokeCommand, smokeFlags } from './commands/smoke.ts'
import { doctorCommand, doctorFlags, downCommand, sshCommand, sshResetCommand, statusCommand } from './commands/machines.ts'
import { startCommand, stopCommand, upCommand, upFlags } from './commands/up.ts'
import { planCommand } from './commands/plan.ts'
import { nodeRemoveCommand } from './commands/node.ts'
import { upgradeCommand, upgradeFlags } from './commands/upgrade.ts'
import { logsCommand, logsFlags } from './commands/logs.ts'
import { conformanceCommand, conformanceFlags } from './commands/conformance.ts'
import { imageLoadCommand, imageLoadFlags, imageLsCommand } from './commands/image.ts'
import { UsageError } from './lib/errors.ts'
import type { Override } from './lib/config/load.ts'
import { Progress, type LogSink, type Verbosity } from './lib/log/progress.ts'
import { errorToJson, formatError } from './lib/log/report.ts'

/** Flags every command takes. */
const GLOBAL_FLAGS = {
  config: { type: 'string', short: 'c', arg: 'FILE', help: 'cluster config (default: cluster.config.yaml, or $KUBELAB_CONFIG)' },
  'env-file': { type: 'string', arg: 'FILE', help: '.env file (default: .env beside the config)' },
  json: { type: 'boolean', help: 'machine output on stdout' },
  verbose: { type: 'boolean', short: 'v', multiple: true, label: '-v, -vv, -vvv', help: 'more detail: per node, every remote command, streamed output' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
} as const satisfies FlagDecls

/** Overrides of the loaded config: every command that loads one takes them (all but `config schema`). */
const CONFIG_FLAGS = {
  provider: { type: 'string', arg: 'TYPE', help: 'override provider.type (auto, nspawn, qemu, multipass, ssh)' },
  'kubernetes-version': { type: 'string', arg: 'V', help: 'override kubernetes.version' },
  bundle: { type: 'string', arg: 'FILE', help: 'install binaries from a bundle (kubelab bundle -o FILE), no network' },
} as const satisfies FlagDecls

const NO_FLAGS = {} as const satisfies FlagDecls

type Handler<D extends FlagDecls> = (ctx: CommandContext, args: string[], flags: FlagValues<D>) => number | Promise<number>

interface Command {
  summary: string
  /** The usage line after `kubelab ` when there is more than `NAME [options]`. */
  usage?: string
  /** The command's own flags (the globals come on top). */
  flags: FlagDecls
  /** Takes the config overrides (--provider, --kubernetes-version, --bundle). */
  config: boolean
  run: (ctx: CommandContext, args: string[], values: RawFlagValues) => number | Promise<number>
}

/** A table entry: the handler is checked against the entry's own flag declaration and gets its values typed. */
function command<D extends FlagDecls>(def: { summary: string; usage?: string; flags: D; config?: false; run: Handler<D> }): Command {
  return {
    summary: def.summary,
    ...(def.usage ? { usage: def.usage } : {}),
    flags: def.flags,
    config: def.config ?? true,
    run: (ctx, args, values) => def.run(ctx, args, flagValues(def.flags, values)),
  }
}

export const COMMANDS: Record<string, Command> = {
  up: command({ summary: 'provision machines, install, join, smoke-test: a Ready cluster (--machines-only: machines)', flags: upFlags, run: upCommand }),
  down: command({ summary: 'delete the machines and local state', flags: NO_FLAGS, run: downCommand }),
  stop: command({ summary: 'shut the machines down, disks, addresses and state kept', flags: NO_FLAGS, run: stopCommand }),
  start: command({ summary: 'start stopped machines: the same cluster Ready again, its workloads with it (up without the smoke suite)', flags: NO_FLAGS, run: startCommand }),
  status: command({ summary: 'machines, nodes, components, versions (--json)', flags: NO_FLAGS, run: statusCommand }),
  ssh: command({ summary: 'a shell (or a command) on a node: ssh NODE [-- CMD]', usage: 'ssh NODE [options] [-- CMD]', flags: NO_FLAGS, run: sshCommand }),
  'ssh-reset': command({ summary: 'forget the pinned host key of a node (after re-creating it on purpose)', usage: 'ssh-reset NODE [options]', flags: NO_FLAGS, run: sshResetCommand }),
  kubeconfig: command({ summary: 'print the admin kubeconfig, or --merge it into ~/.kube/config', flags: kubeconfigFlags, run: kubeconfigCommand }),
  kubectl: command({ summary: 'the pinned kubectl against the cluster: kubectl -- ARGS', usage: 'kubectl [options] -- ARGS', flags: NO_FLAGS, run: kubectlCommand }),
  'token create': command({ summary: 'a bootstrap token (--ttl 1h) and the endpoint + CA hash for workers joining in external mode', flags: tokenCreateFlags, run: tokenCreateCommand }),
  smoke: command({ summary: 'the smoke suite: 20 checks of what workers do and the addons give (--check ID,... for some, --junit FILE, --json, --keep)', flags: smokeFlags, run: smokeCommand }),
  addons: command({ summary: 'each addon: switched on in the config, applied and ready in the cluster (--json)', flags: NO_FLAGS, run: addonsCommand }),
  plan: command({ summary: 'per node, the steps `up` would run; with machines running, each one unchanged or would change (+ upgrade dry run)', flags: NO_FLAGS, run: planCommand }),
  'node remove': command({ summary: 'remove a worker no longer in nodes: cordon, drain, delete Node + machine, drop its routes', usage: 'node remove NAME [options]', flags: NO_FLAGS, run: nodeRemoveCommand }),
  upgrade: command({ summary: 'to the config\'s kubernetes.version: skew checked, control plane first, workers drained one at a time (--os: OS packages)', flags: upgradeFlags, run: upgradeCommand }),
  logs: command({ summary: 'a logs bundle (journals, network, containers, redacted configs, cluster reads): logs [NODE] -o DIR', usage: 'logs [NODE] [options]', flags: logsFlags, run: logsCommand }),
  conformance: command({ summary: 'upstream conformance tests (e2e.test) from the lab network: --mode quick|lite|certified, --focus RE, --junit FILE, -o DIR', flags: conformanceFlags, run: conformanceCommand }),
  'image load': command({ summary: 'your own images into containerd on the nodes: image load REF|FILE... [--node NAME] (docker save / OCI archives, pinned to the nodes\' platform)', usage: 'image load REF|FILE... [options]', flags: imageLoadFlags, run: imageLoadCommand }),
  'image ls': command({ summary: 'the images containerd holds on each node (ref, digest, size; --json)', usage: 'image ls [NODE...] [options]', flags: NO_FLAGS, run: imageLsCommand }),
  doctor: command({ summary: 'check this host: which provider would be used, what is missing (--fix installs it)', flags: doctorFlags, run: doctorCommand }),
  clusters: command({ summary: 'every cluster on this host: name, provider, nodes, state (--json)', flags: NO_FLAGS, config: false, run: clustersCommand }),
  version: command({ summary: 'kubelab\'s version and the Kubernetes versions it supports (--json)', flags: NO_FLAGS, config: false, run: versionCommand }),
  completion: command({ summary: 'a shell completion script: completion bash|zsh|fish (source <(kubelab completion bash))', usage: 'completion bash|zsh|fish', flags: NO_FLAGS, config: false, run: (ctx, args) => completionCommand(ctx, args, completionTable()) }),
  'config validate': command({ summary: 'check cluster.config.yaml and report every problem with file:line:col', flags: NO_FLAGS, run: configValidateCommand }),
  'config schema': command({ summary: 'print the JSON Schema of cluster.config.yaml (for editors)', flags: NO_FLAGS, config: false, run: configSchemaCommand }),
  'artifacts build': command({ summary: 'build the binaries the config needs from Go modules into the cache [--arch A]', flags: artifactsFlags, run: artifactsBuildCommand }),
  'artifacts lock': command({ summary: 'fill missing sha256 pins of the versions lock from upstream checksum files', flags: artifactsLockFlags, run: artifactsLockCommand }),
  'artifacts list': command({ summary: 'what the config needs and where it is in the cache (--json)', flags: artifactsFlags, run: artifactsListCommand }),
  'artifacts fetch': command({ summary: 'make every file the config needs available in the cache (artifacts.source)', flags: artifactsFlags, run: artifactsFetchCommand }),
  bundle: command({ summary: 'write everything the config needs into one tar: bundle -o FILE [--arch A]', usage: 'bundle -o FILE [options]', flags: bundleFlags, run: bundleCommand }),
}

/** Every flag `name` takes, its own first: [long name, declaration]. */
function flagsOf(name: string): [string, FlagDecl][] {
  return [...Object.entries(COMMANDS[name]!.flags), ...globalsOf(name)]
}

/** The globals `name` takes, in --help order: -c, --env-file, the config overrides, --json, -v, -h. */
function globalsOf(name: string): [string, FlagDecl][] {
  const [config, envFile, ...rest] = Object.entries(GLOBAL_FLAGS)
  return [config!, envFile!, ...(COMMANDS[name]!.config ? Object.entries(CONFIG_FLAGS) : []), ...rest]
}

/** The command table as completion scripts need it: names, summaries, every flag each takes. */
function completionTable(): CompletionCommand[] {
  return Object.entries(COMMANDS).map(([name, c]) => ({
    name,
    summary: c.summary,
    flags: flagsOf(name).map(([long, d]) => ({ long, ...(d.short ? { short: d.short } : {}), takesArg: d.type === 'string' })),
  }))
}

/** Every flag of every command: node:util parseArgs specs. One long name means one spec everywhere, and one short letter one long name. */
function specs(entries: Iterable<[string, FlagDecl]>): Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> {
  const out: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {}
  const shorts = new Map<string, string>()
  for (const [name, d] of entries) {
    const spec = { type: d.type, ...(d.short ? { short: d.short } : {}), ...(d.multiple ? { multiple: true } : {}) }
    const had = out[name]
    if (had && JSON.stringify(had) !== JSON.stringify(spec)) throw new Error(`flag --${name} is declared twice with different specs`)
    if (d.short && (shorts.get(d.short) ?? name) !== name) throw new Error(`flag -${d.short} means both --${shorts.get(d.short)} and --${name}`)
    if (d.short) shorts.set(d.short, name)
    out[name] = spec
  }
  return out
}

const ALL_FLAGS = specs(Object.keys(COMMANDS).flatMap(flagsOf))

for (const [name, c] of Object.entries(COMMANDS)) {
  for (const own of Object.keys(c.flags)) {
    if (own in GLOBAL_FLAGS || own in CONFIG_FLAGS) throw new Error(`${name} declares --${own}, a global flag`)
  }
}

/** `-c, --config FILE`, `    --json`: the left column of --help. */
function label(name: string, d: FlagDecl): string {
  if (d.label) return d.label
  return `${d.short ? `-${d.short}, ` : '    '}--${name}${d.arg ? ` ${d.arg}` : ''}`
}

function flagLines(entries: [string, FlagDecl][], width: number): string[] {
  return entries.map(([name, d]) => `  ${label(name, d).padEnd(width)}  ${d.help}`)
}

function helpWidth(entries: [string, FlagDecl][]): number {
  return Math.max(...entries.map(([name, d]) => label(name, d).length))
}

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const globals = Object.entries(GLOBAL_FLAGS)
  const overrides = Object.entries(CONFIG_FLAGS)
  const w = helpWidth([...globals, ...overrides])
  return [
    'Usage: kubelab <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options (every command):',
    ...flagLines(globals, w),
    '',
    'Config overrides (every command that reads the config, all but config schema):',
    ...flagLines(overrides, w),
    '',
    'A command\'s own options: kubelab <command> --help',
  ].join('\n')
}

/** `kubelab COMMAND --help`: the summary and only the flags this command takes. */
export function commandUsage(name: string): string {
  const c = COMMANDS[name]!
  const own = Object.entries(c.flags)
  const globals = globalsOf(name)
  const w = helpWidth([...own, ...globals])
  return [
    `Usage: kubelab ${c.usage ?? `${name} [options]`}`,
    '',
    c.summary,
    ...(own.length ? ['', 'Options:', ...flagLines(own, w)] : []),
    '',
    'Global options:',
    ...flagLines(globals, w),
  ].join('\n')
}

/** `-c, --config, --env-file, --json, -v`: what an unknown-option error lists. */
function takes(name: string): string {
  return flagsOf(name).filter(([n]) => n !== 'help')
    .map(([n, d]) => (d.label ? d.label.split(',')[0]! : d.short ? `-${d.short}, --${n}` : `--${n}`)).join(', ')
}

export interface CliIO {
  stdout: LogSink
  stderr: LogSink
  env: Readonly<Record<string, string | undefined>>
}

/** The global options and config overrides out of a command's parsed values. */
function globalOptions(values: RawFlagValues, env: CliIO['env']): { options: GlobalOptions; verbosity: Verbosity; help: boolean } {
  const g = flagValues(GLOBAL_FLAGS, values)
  const o = flagValues(CONFIG_FLAGS, values)
  const overrides: Override[] = []
  if (o.provider !== undefined) overrides.push({ path: ['provider', 'type'], value: o.provider, origin: '--provider (flag)' })
  if (o.kubernetesVersion !== undefined) {
    overrides.push({ path: ['kubernetes', 'version'], value: o.kubernetesVersion, origin: '--kubernetes-version (flag)' })
  }
  if (o.bundle !== undefined) {
    // `up --bundle FILE`: install from a bundle, no network (the same as artifacts.source: bundle).
    const file = path.resolve(o.bundle)
    overrides.push({ path: ['artifacts', 'source'], value: 'bundle', origin: '--bundle (flag)' }, { path: ['artifacts', 'bundle'], value: file, origin: '--bundle (flag)' })
  }
  return {
    options: {
      config: g.config ?? env.KUBELAB_CONFIG ?? 'cluster.config.yaml',
      ...(g.envFile ? { envFile: g.envFile } : {}),
      json: g.json,
      overrides,
    },
    verbosity: Math.min(3, g.verbose.length) as Verbosity,
    help: g.help,
  }
}

interface Parsed {
  /** undefined: no command named (the positionals are not one). */
  name?: string
  args: string[]
  positionals: string[]
  /** The command's parsed flag values (its handler gets them typed). */
  values: RawFlagValues
  options: GlobalOptions
  verbosity: Verbosity
  help: boolean
}

/**
 * Two passes: every flag of every command (not strict) to find the command among the positionals
 * wherever the flags sit (`-c FILE status` and `status -c FILE`), then only that command's flags,
 * strict. A flag another command owns is a usage error that lists what this one takes.
 */
function parse(argv: string[], env: CliIO['env']): Parsed {
  const first = parseArgs({ args: argv, options: ALL_FLAGS, strict: false, allowPositionals: true, tokens: true })
  const options = first.tokens.filter((t) => t.kind === 'option')
  const name = pick(first.positionals)
  if (!name) {
    const unknown = options.find((t) => !(t.name in ALL_FLAGS))
    if (unknown) throw new UsageError(`unknown option ${unknown.rawName}`, { hint: 'kubelab --help lists commands and options' })
    // No command to run: only --help and --json matter (the values are not checked against any spec).
    const json = first.values.json === true
    return { args: [], positionals: first.positionals, values: {}, ...globalOptions({ json, help: first.values.help === true }, env) }
  }
  const decls = flagsOf(name)
  const own = new Set(decls.map(([n]) => n))
  const foreign = options.find((t) => !own.has(t.name))
  const passOn = COMMANDS[name]!.usage?.includes('-- ')
  const hint = { hint: `kubelab ${name} --help${passOn ? `; options of the command itself go after --: kubelab ${COMMANDS[name]!.usage}` : ''}` }
  if (foreign) throw new UsageError(`kubelab ${name}: unknown option ${foreign.rawName} (${name} takes: ${takes(name)})`, hint)
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: specs(decls), strict: true, allowPositionals: true })
  } catch (err) {
    throw new UsageError(`kubelab ${name}: ${(err as Error).message}`, hint)
  }
  return {
    name,
    args: parsed.positionals.slice(name.split(' ').length),
    positionals: parsed.positionals,
    values: parsed.values,
    ...globalOptions(parsed.values, env),
  }
}

/** Finds the longest command name at the start of the positionals ("config validate" before "config"). */
function pick(positionals: string[]): string | undefined {
  for (let n = Math.min(2, positionals.length); n >= 1; n--) {
    const name = positionals.slice(0, n).join(' ')
    if (COMMANDS[name]) return name
  }
  return undefined
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const write = (sink: LogSink) => (text: string) => sink.write(text.endsWith('\n') ? text : `${text}\n`)
  let json = argv.includes('--json')
  const progress0 = new Progress({ sink: io.stderr })
  try {
    const { name, args, positionals, values, options, verbosity, help } = parse(argv, io.env)
    json = options.json
    if (help) {
      write(io.stdout)(name ? commandUsage(name) : usage())
      return 0
    }
    if (positionals.length === 0) {
      write(io.stderr)(usage())
      return 2
    }
    if (!name) {
      const sub = positionals[0] === 'config' ? ' (config validate | config schema)'
        : positionals[0] === 'artifacts' ? ' (artifacts build | lock | list | fetch)'
          : positionals[0] === 'token' ? ' (token create)'
            : positionals[0] === 'node' ? ' (node remove NAME)'
              : positionals[0] === 'image' ? ' (image load REF|FILE... | image ls)' : ''
      throw new UsageError(`unknown command "${positionals.join(' ')}"${sub}`, { hint: 'kubelab --help lists commands' })
    }
    const ctx: CommandContext = {
      options,
      progress: new Progress({ sink: io.stderr, verbosity }),
      out: write(io.stdout),
      env: io.env,
    }
    return await COMMANDS[name]!.run(ctx, args, values)
  } catch (err) {
    progress0.info(formatError(err))
    if (json) write(io.stdout)(JSON.stringify({ ok: false, error: errorToJson(err) }, null, 2))
    return err instanceof UsageError ? 2 : 1
  }
}
