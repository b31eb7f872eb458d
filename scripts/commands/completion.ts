// `kubelab completion bash|zsh|fish`: a static completion script made from the command table
// (cli.ts passes it in), so a Tab costs no Node start: commands (two-word ones like `image load`
// as a word and its subword), then each command's own and global flags. zsh reuses the bash
// function through bashcompinit.

import { UsageError } from '../lib/errors.ts'
import type { CommandContext } from './context.ts'

export interface CompletionFlag {
  readonly long: string
  readonly short?: string
  /** Takes a value (`-c FILE`): the next word is not a command. */
  readonly takesArg: boolean
}

export interface CompletionCommand {
  /** As the command table names it: `up`, `image load`. */
  readonly name: string
  readonly summary: string
  readonly flags: readonly CompletionFlag[]
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const
export type Shell = (typeof SHELLS)[number]

const words = (xs: readonly string[]) => [...new Set(xs)].join(' ')
const flagWords = (c: CompletionCommand) => words(c.flags.flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]))

function bash(commands: readonly CompletionCommand[]): string {
  const firsts = words(commands.map((c) => c.name.split(' ')[0]!))
  const groups = new Map<string, string[]>()
  for (const c of commands) {
    const [head, sub] = c.name.split(' ')
    if (sub) groups.set(head!, [...groups.get(head!) ?? [], sub])
  }
  const valued = words(commands.flatMap((c) => c.flags.filter((f) => f.takesArg).flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])])))
  const cases = [
    `    '') words="${firsts}" ;;`,
    ...[...groups].map(([head, subs]) => `    '${head}') words="${words(subs)}" ;;`),
    ...commands.map((c) => `    '${c.name}') words="${flagWords(c)}" ;;`),
  ]
  return [
    '# kubelab completion for bash: source <(kubelab completion bash)',
    '_kubelab() {',
    '  local cur="${COMP_WORDS[COMP_CWORD]}" cmd="" i w words=""',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    w="${COMP_WORDS[i]}"',
    '    case " ' + valued + ' " in *" $w "*) i=$((i + 1)); continue ;; esac',
    '    [[ $w == -* ]] && continue',
    '    cmd="${cmd:+$cmd }$w"',
    '  done',
    '  case "$cmd" in',
    ...cases,
    '  esac',
    '  [[ -n $words ]] && COMPREPLY=($(compgen -W "$words" -- "$cur"))',
    '}',
    'complete -o default -F _kubelab kubelab',
    '',
  ].join('\n')
}

function zsh(commands: readonly CompletionCommand[]): string {
  return ['# kubelab completion for zsh: source <(kubelab completion zsh)', 'autoload -U +X bashcompinit && bashcompinit', bash(commands)].join('\n')
}

const fishQuote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

function fish(commands: readonly CompletionCommand[]): string {
  const firsts = [...new Set(commands.map((c) => c.name.split(' ')[0]!))]
  const lines = ['# kubelab completion for fish: kubelab completion fish | source', 'complete -c kubelab -f']
  for (const head of firsts) {
    const own = commands.find((c) => c.name === head)
    lines.push(`complete -c kubelab -n __fish_use_subcommand -a ${head} -d ${fishQuote(own?.summary ?? `${head} commands`)}`)
  }
  for (const c of commands) {
    const [head, sub] = c.name.split(' ')
    if (sub) lines.push(`complete -c kubelab -n '__fish_seen_subcommand_from ${head}' -a ${sub} -d ${fishQuote(c.summary)}`)
    const when = `'__fish_seen_subcommand_from ${sub ?? head}'`
    for (const f of c.flags) lines.push(`complete -c kubelab -n ${when} -l ${f.long}${f.short ? ` -s ${f.short}` : ''}${f.takesArg ? ' -r' : ''}`)
  }
  return `${lines.join('\n')}\n`
}

export function completionScript(shell: Shell, commands: readonly CompletionCommand[]): string {
  return shell === 'bash' ? bash(commands) : shell === 'zsh' ? zsh(commands) : fish(commands)
}

export function completionCommand(ctx: CommandContext, args: readonly string[], commands: readonly CompletionCommand[]): number {
  const shell = args[0]
  if (!shell || !(SHELLS as readonly string[]).includes(shell) || args.length > 1) {
    throw new UsageError(`kubelab completion needs one shell: ${SHELLS.join(', ')} (got ${args.join(' ') || 'none'})`)
  }
  ctx.out(completionScript(shell as Shell, commands).trimEnd())
  return 0
}
