// `kubelab completion`: the scripts made from the command table, the bash one run by a real bash
// (what a Tab offers after each of a few command lines), the zsh one wrapping it, the fish one
// naming every command and flag; a missing or unknown shell is a usage error.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { kubelab } from '../helpers/cli.ts'

const script = async (shell: string) => {
  const r = await kubelab(['completion', shell])
  if (r.code !== 0) throw new Error(r.stderr)
  return r.stdout
}

/** What bash offers for the words of `line` (the last one being completed). */
function offers(bashScript: string, line: string): string[] {
  const words = line.split(' ')
  const program = `${bashScript}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kubelab; printf '%s\\n' "\${COMPREPLY[@]}"`
  return execFileSync('bash', ['-c', program], { encoding: 'utf8' }).split('\n').filter(Boolean)
}

test('bash: commands, the second word of two-word commands, each command\'s own flags, flag values skipped', async (t) => {
  const s = await script('bash')
  t.deepEqual(offers(s, 'kubelab u'), ['up', 'upgrade'])
  t.deepEqual(offers(s, 'kubelab image '), ['load', 'ls'])
  t.deepEqual(offers(s, 'kubelab up --m'), ['--machines-only'])
  t.deepEqual(offers(s, 'kubelab -c my.yaml smoke --ch'), ['--check'])
  t.deepEqual(offers(s, 'kubelab image load --n'), ['--node'])
  t.true(offers(s, 'kubelab status --').includes('--json'))
  t.false(offers(s, 'kubelab status --').includes('--machines-only'), 'only the flags status takes')
  t.deepEqual(offers(s, 'kubelab ssh worker-1 '), [], 'arguments: bash falls back to file names')
})

test('zsh wraps the bash function; fish names every command and flag; a bad shell is a usage error', async (t) => {
  const z = await script('zsh')
  t.regex(z, /bashcompinit/)
  t.regex(z, /complete -o default -F _kubelab kubelab/)
  const f = await script('fish')
  t.regex(f, /^complete -c kubelab -n __fish_use_subcommand -a up -d /m)
  t.regex(f, /^complete -c kubelab -n '__fish_seen_subcommand_from image' -a load -d /m)
  t.regex(f, /^complete -c kubelab -n '__fish_seen_subcommand_from up' -l machines-only$/m)
  t.regex(f, /^complete -c kubelab -n '__fish_seen_subcommand_from load' -l node -r$/m)
  const bad = await kubelab(['completion', 'tcsh'])
  t.is(bad.code, 2)
  t.regex(bad.stderr, /needs one shell: bash, zsh, fish \(got tcsh\)/)
})
