// The CLI dispatcher: parses global flags, picks the command, runs it, and reports errors once.
// Exit codes: 0 success, 1 failure (reported), 2 usage error.

import path from 'node:path'
import { parseArgs } from 'node:util'
import { artifactsBuildCommand, artifactsFetchCommand, artifactsListCommand, artifactsLockCommand, bundleCommand } from './commands/artifacts.ts'
import { configSchemaCommand, configValidateCommand } from './commands/config.ts'
import type { CommandContext, CommandFlags, GlobalOptions } from './commands/context.ts'
import { kubeconfigCommand, kubectlCommand } from './commands/cluster.ts'
import { doctorCommand, downCommand, sshCommand, sshResetCommand, statusCommand, upCommand } from './commands/machines.ts'
import { planCommand } from './commands/plan.ts'
import { NotImplementedError, UsageError } from './lib/errors.ts'
import type { Override } from './lib/config/load.ts'
import { Progress, type LogSink, type Verbosity } from './lib/log/progress.ts'
import { errorToJson, formatError } from './lib/log/report.ts'

type Handler = (ctx: CommandContext, args: string[], flags: CommandFlags) => number | Promise<number>

interface Command {
  summary: string
  run: Handler
}

const notYet = (name: string, issue: string): Handler => () => {
  throw new NotImplementedError(name, issue)
}

export const COMMANDS: Record<string, Command> = {
  up: { summary: 'provision machines, install, join, smoke-test: a Ready cluster (--machines-only: machines)', run: (ctx) => upCommand(ctx, ctx.options.machinesOnly) },
  down: { summary: 'delete the machines and local state', run: downCommand },
  status: { summary: 'machines, nodes, components, versions (--json)', run: statusCommand },
  ssh: { summary: 'a shell (or a command) on a node: ssh NODE [-- CMD]', run: sshCommand },
  'ssh-reset': { summary: 'forget the pinned host key of a node (after re-creating it on purpose)', run: sshResetCommand },
  kubeconfig: { summary: 'print the admin kubeconfig, or --merge it into ~/.kube/config', run: kubeconfigCommand },
  kubectl: { summary: 'the pinned kubectl against the cluster: kubectl -- ARGS', run: kubectlCommand },
  smoke: { summary: 'run the smoke suite against the cluster (JUnit + JSON reports)', run: notYet('smoke', 'lands with the smoke-test issue') },
  plan: { summary: 'per node, the steps `up` would run', run: planCommand },
  doctor: { summary: 'check this host: which provider would be used, and what is missing', run: doctorCommand },
  'config validate': { summary: 'check cluster.config.yaml and report every problem with file:line:col', run: configValidateCommand },
  'config schema': { summary: 'print the JSON Schema of cluster.config.yaml (for editors)', run: configSchemaCommand },
  'artifacts build': { summary: 'build the binaries the config needs from Go modules into the cache [--arch A]', run: artifactsBuildCommand },
  'artifacts lock': { summary: 'fill missing sha256 pins of the versions lock from upstream checksum files', run: artifactsLockCommand },
  'artifacts list': { summary: 'what the config needs and where it is in the cache (--json)', run: artifactsListCommand },
  'artifacts fetch': { summary: 'make every file the config needs available in the cache (artifacts.source)', run: artifactsFetchCommand },
  bundle: { summary: 'write everything the config needs into one tar: bundle -o FILE [--arch A]', run: bundleCommand },
}

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  return [
    'Usage: kubelab <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  -c, --config FILE           cluster config (default: cluster.config.yaml, or $KUBELAB_CONFIG)',
    '      --env-file FILE         .env file (default: .env beside the config)',
    '      --provider TYPE         override provider.type (auto, nspawn, qemu, multipass, ssh)',
    '      --kubernetes-version V  override kubernetes.version',
    '      --bundle FILE           install binaries from a bundle (kubelab bundle -o FILE), no network',
    '      --json                  machine output on stdout',
    '  -o, --output FILE           output file (bundle)',
    '      --merge                 kubeconfig: merge into ~/.kube/config (or $KUBECONFIG) as kubelab-<cluster>',
    '      --arch ARCH             node architecture for artifacts: amd64, arm64 (default: this host)',
    '      --machines-only         up: provision the machines and stop there',
    '      --until STEP            up: converge up to and including STEP (ids: kubelab plan)',
    '  -v, -vv, -vvv               more detail: per node, every remote command, streamed output',
    '  -h, --help                  this help',
  ].join('\n')
}

export interface CliIO {
  stdout: LogSink
  stderr: LogSink
  env: Readonly<Record<string, string | undefined>>
}

function parse(argv: string[], env: CliIO['env']): { options: GlobalOptions; flags: CommandFlags; verbosity: Verbosity; help: boolean; positionals: string[] } {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        'env-file': { type: 'string' },
        provider: { type: 'string' },
        'kubernetes-version': { type: 'string' },
        bundle: { type: 'string' },
        json: { type: 'boolean', default: false },
        'machines-only': { type: 'boolean', default: false },
        until: { type: 'string' },
        verbose: { type: 'boolean', short: 'v', multiple: true },
        help: { type: 'boolean', short: 'h', default: false },
        output: { type: 'string', short: 'o' },
        arch: { type: 'string' },
        merge: { type: 'boolean', default: false },
      },
    })
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: 'kubelab --help lists commands and options' })
  }
  const v = parsed.values
  const flags: Override[] = []
  if (v.provider !== undefined) flags.push({ path: ['provider', 'type'], value: v.provider, origin: '--provider (flag)' })
  if (v['kubernetes-version'] !== undefined) {
    flags.push({ path: ['kubernetes', 'version'], value: v['kubernetes-version'], origin: '--kubernetes-version (flag)' })
  }
  if (v.bundle !== undefined) {
    // `up --bundle FILE`: install from a bundle, no network (the same as artifacts.source: bundle).
    const file = path.resolve(v.bundle)
    flags.push({ path: ['artifacts', 'source'], value: 'bundle', origin: '--bundle (flag)' }, { path: ['artifacts', 'bundle'], value: file, origin: '--bundle (flag)' })
  }
  return {
    options: {
      config: v.config ?? env.KUBELAB_CONFIG ?? 'cluster.config.yaml',
      ...(v['env-file'] ? { envFile: v['env-file'] } : {}),
      json: v.json ?? false,
      machinesOnly: v['machines-only'] ?? false,
      ...(v.until ? { until: v.until } : {}),
      flags,
    },
    flags: { ...(v.output !== undefined ? { output: v.output } : {}), ...(v.arch !== undefined ? { arch: v.arch } : {}), merge: v.merge ?? false },
    verbosity: Math.min(3, v.verbose?.length ?? 0) as Verbosity,
    help: v.help ?? false,
    positionals: parsed.positionals,
  }
}

/** Finds the longest command name at the start of the positionals ("config validate" before "config"). */
function pick(positionals: string[]): { name: string; args: string[] } | undefined {
  for (let n = Math.min(2, positionals.length); n >= 1; n--) {
    const name = positionals.slice(0, n).join(' ')
    if (COMMANDS[name]) return { name, args: positionals.slice(n) }
  }
  return undefined
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const write = (sink: LogSink) => (text: string) => sink.write(text.endsWith('\n') ? text : `${text}\n`)
  let json = argv.includes('--json')
  const progress0 = new Progress({ sink: io.stderr })
  try {
    const { options, flags, verbosity, help, positionals } = parse(argv, io.env)
    json = options.json
    if (help || positionals.length === 0) {
      write(help ? io.stdout : io.stderr)(usage())
      return help ? 0 : 2
    }
    const found = pick(positionals)
    if (!found) {
      const sub = positionals[0] === 'config' ? ' (config validate | config schema)'
        : positionals[0] === 'artifacts' ? ' (artifacts build | lock | list | fetch)' : ''
      throw new UsageError(`unknown command "${positionals.join(' ')}"${sub}`, { hint: 'kubelab --help lists commands' })
    }
    const ctx: CommandContext = {
      options,
      progress: new Progress({ sink: io.stderr, verbosity }),
      out: write(io.stdout),
      env: io.env,
    }
    return await COMMANDS[found.name]!.run(ctx, found.args, flags)
  } catch (err) {
    progress0.info(formatError(err))
    if (json) write(io.stdout)(JSON.stringify({ ok: false, error: errorToJson(err) }, null, 2))
    return err instanceof UsageError ? 2 : 1
  }
}
