// The CLI dispatcher: parses global flags, picks the command, runs it, and reports errors once.
// Exit codes: 0 success, 1 failure (reported), 2 usage error.

import path from 'node:path'
import { parseArgs } from 'node:util'
import { artifactsBuildCommand, artifactsFetchCommand, artifactsListCommand, artifactsLockCommand, bundleCommand } from './commands/artifacts.ts'
import { configSchemaCommand, configValidateCommand } from './commands/config.ts'
import type { CommandContext, CommandFlags, GlobalOptions } from './commands/context.ts'
import { kubeconfigCommand, kubectlCommand } from './commands/cluster.ts'
import { tokenCreateCommand } from './commands/token.ts'
import { smokeCommand } from './commands/smoke.ts'
import { doctorCommand, downCommand, sshCommand, sshResetCommand, statusCommand } from './commands/machines.ts'
import { upCommand } from './commands/up.ts'
import { planCommand } from './commands/plan.ts'
import { nodeRemoveCommand } from './commands/node.ts'
import { upgradeCommand } from './commands/upgrade.ts'
import { logsCommand } from './commands/logs.ts'
import { conformanceCommand } from './commands/conformance.ts'
import { UsageError } from './lib/errors.ts'
import type { Override } from './lib/config/load.ts'
import { Progress, type LogSink, type Verbosity } from './lib/log/progress.ts'
import { errorToJson, formatError } from './lib/log/report.ts'

type Handler = (ctx: CommandContext, args: string[], flags: CommandFlags) => number | Promise<number>

interface Command {
  summary: string
  run: Handler
}

export const COMMANDS: Record<string, Command> = {
  up: { summary: 'provision machines, install, join, smoke-test: a Ready cluster (--machines-only: machines)', run: (ctx, _args, flags) => upCommand(ctx, flags) },
  down: { summary: 'delete the machines and local state', run: downCommand },
  status: { summary: 'machines, nodes, components, versions (--json)', run: statusCommand },
  ssh: { summary: 'a shell (or a command) on a node: ssh NODE [-- CMD]', run: sshCommand },
  'ssh-reset': { summary: 'forget the pinned host key of a node (after re-creating it on purpose)', run: sshResetCommand },
  kubeconfig: { summary: 'print the admin kubeconfig, or --merge it into ~/.kube/config', run: kubeconfigCommand },
  kubectl: { summary: 'the pinned kubectl against the cluster: kubectl -- ARGS', run: kubectlCommand },
  'token create': { summary: 'a bootstrap token (--ttl 1h) and the endpoint + CA hash for workers joining in external mode', run: tokenCreateCommand },
  smoke: { summary: 'the smoke suite: 15 checks of what workers do (--junit FILE, --json, --keep)', run: smokeCommand },
  plan: { summary: 'per node, the steps `up` would run; with machines running, each one unchanged or would change (+ upgrade dry run)', run: planCommand },
  'node remove': { summary: 'remove a worker no longer in nodes: cordon, drain, delete Node + machine, drop its routes', run: nodeRemoveCommand },
  upgrade: { summary: 'to the config\'s kubernetes.version: skew checked, control plane first, workers drained one at a time (--os: OS packages)', run: upgradeCommand },
  logs: { summary: 'a logs bundle (journals, network, containers, redacted configs, cluster reads): logs [NODE] -o DIR', run: logsCommand },
  conformance: { summary: 'upstream conformance tests (e2e.test) from the lab network: --mode quick|lite|certified, --focus RE, --junit FILE, -o DIR', run: conformanceCommand },
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
    '  -o, --output FILE           output file (bundle) or directory (logs, conformance)',
    '      --mode MODE             conformance: quick | lite | certified (default quick)',
    '      --focus REGEX           conformance: run the tests matching REGEX instead of the mode\'s',
    '      --junit FILE            smoke, conformance: write the JUnit report to FILE',
    '      --keep                  smoke: leave the smoke workloads (namespace kubelab-smoke) for debugging',
    '      --no-smoke              up: skip the smoke suite at the end',
    '      --ttl DURATION          token create: lifetime such as 30m, 2h, 1d (default 1h)',
    '      --merge                 kubeconfig: merge into ~/.kube/config (or $KUBECONFIG) as kubelab-<cluster>',
    '      --arch ARCH             node architecture for artifacts: amd64, arm64 (default: this host)',
    '      --machines-only         up: provision the machines and stop there',
    '      --prune                 up: remove machines (cordon, drain, delete) whose nodes left the config',
    '      --os                    upgrade: OS packages (apt-get upgrade) node by node instead of Kubernetes',
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
        prune: { type: 'boolean', default: false },
        os: { type: 'boolean', default: false },
        mode: { type: 'string' },
        focus: { type: 'string' },
        junit: { type: 'string' },
        ttl: { type: 'string' },
        keep: { type: 'boolean', default: false },
        'no-smoke': { type: 'boolean', default: false },
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
      prune: v.prune ?? false,
      flags,
    },
    flags: { ...(v.output !== undefined ? { output: v.output } : {}), ...(v.arch !== undefined ? { arch: v.arch } : {}), merge: v.merge ?? false, os: v.os ?? false, ...(v.mode !== undefined ? { mode: v.mode } : {}), ...(v.focus !== undefined ? { focus: v.focus } : {}), ...(v.junit !== undefined ? { junit: v.junit } : {}), ...(v.ttl !== undefined ? { ttl: v.ttl } : {}), keep: v.keep ?? false, noSmoke: v['no-smoke'] ?? false },
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
        : positionals[0] === 'artifacts' ? ' (artifacts build | lock | list | fetch)'
          : positionals[0] === 'token' ? ' (token create)'
            : positionals[0] === 'node' ? ' (node remove NAME)' : ''
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
