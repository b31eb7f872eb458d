// Hostile config inputs through the real CLI: a FIFO, a directory, a binary file, an alias bomb, a
// .env that is a directory, `--env-file` naming a missing file. Each ends quickly with exit 1 and
// one bounded line naming the file: no hang, no stack trace, no megabytes of echoed input.
import test from 'ava'
import { execFile, execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { kubelab, type CliRun } from '../helpers/cli.ts'
import { CLI, ROOT } from '../helpers/paths.ts'

const TIMEOUT_MS = 30_000
const GOOD = readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8')

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelab-input-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A billion-laughs document: nine levels of nine aliases each, valid nodes beside it. */
function aliasBomb(): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]']
  for (let i = 1; i < 9; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`)
  return `${lines.join('\n')}\nnodes: [{name: cp, role: control-plane}, {name: w1, role: worker}]\n`
}

/** Exit 1, no stdout, exactly one line on stderr that names `file` and says `why`. */
function assertOneLine(t: import('ava').ExecutionContext, r: CliRun, file: string, why: RegExp): void {
  t.is(r.code, 1, r.stderr)
  t.is(r.stdout, '')
  const lines = r.stderr.trimEnd().split('\n')
  t.is(lines.length, 1, r.stderr.slice(0, 2000))
  t.true(lines[0]!.length < 300, `a bounded line: ${lines[0]!.length} characters`)
  t.true(lines[0]!.includes(file), lines[0])
  t.regex(lines[0]!, why)
  t.false(r.stderr.includes('ERR_INTERNAL'))
}

const validate = (args: string[], cwd: string) => kubelab(['config', 'validate', ...args], { cwd, timeoutMs: TIMEOUT_MS, env: { KUBELAB_EGRESS: 'off' } })

/** `file args` as a program; SIGKILL at the timeout, since a process stuck in a read ignores SIGTERM. */
function run(file: string, args: string[], cwd: string): Promise<CliRun> {
  const env = { PATH: process.env.PATH ?? '', HOME: cwd, CI: '1', KUBELAB_EGRESS: 'off' }
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout: TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }))
  })
}

test('-c naming a FIFO is refused at once (nothing opens it for writing; no hang)', async (t) => {
  const dir = tempDir(t)
  execFileSync('mkfifo', [path.join(dir, 'fifo.yaml')])
  const started = Date.now()
  const r = await run(process.execPath, ['--', CLI, 'config', 'validate', '-c', 'fifo.yaml'], dir)
  assertOneLine(t, r, 'fifo.yaml', /not a regular file/)
  t.true(Date.now() - started < TIMEOUT_MS - 1000)
})

test('-c naming a directory', async (t) => {
  const dir = tempDir(t)
  mkdirSync(path.join(dir, 'conf'))
  assertOneLine(t, await validate(['-c', 'conf'], dir), 'conf', /is a directory/)
})

test('.env beside the config being a directory', async (t) => {
  const dir = tempDir(t)
  writeFileSync(path.join(dir, 'cluster.config.yaml'), GOOD)
  mkdirSync(path.join(dir, '.env'))
  assertOneLine(t, await validate(['-c', 'cluster.config.yaml'], dir), '.env', /is a directory/)
})

test('a 1 MiB binary file as config: one line, not megabytes of errors', async (t) => {
  const dir = tempDir(t)
  const bytes = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24 // every byte value, NUL included
  writeFileSync(path.join(dir, 'blob.yaml'), bytes)
  assertOneLine(t, await validate(['-c', 'blob.yaml'], dir), 'blob.yaml', /binary file/)
})

test('a text file full of YAML errors: at most 20 problems listed, each line bounded', async (t) => {
  const dir = tempDir(t)
  const junk = Array.from({ length: 2000 }, (_, i) => `${'k'.repeat(2000)}${i}: [: {\n`).join('')
  writeFileSync(path.join(dir, 'junk.yaml'), junk)
  const r = await validate(['-c', 'junk.yaml'], dir)
  t.is(r.code, 1)
  const lines = r.stderr.trimEnd().split('\n')
  t.true(lines.length <= 23, `${lines.length} lines`)
  t.true(lines.every((l) => l.length < 400), 'every line bounded')
  t.false(r.stderr.includes('ERR_INTERNAL'))
})

test('a YAML alias bomb', async (t) => {
  const dir = tempDir(t)
  writeFileSync(path.join(dir, 'bomb.yaml'), aliasBomb())
  assertOneLine(t, await validate(['-c', 'bomb.yaml'], dir), 'bomb.yaml', /alias/i)
})

test('--env-file naming a missing file reaches kubelab (not Node, which exits 9)', async (t) => {
  const dir = tempDir(t)
  writeFileSync(path.join(dir, 'cluster.config.yaml'), GOOD)
  assertOneLine(t, await validate(['-c', 'cluster.config.yaml', '--env-file', 'missing.env'], dir), 'missing.env', /not found/)
  // The bin run as a program (its shebang), as `kubelab` on PATH is.
  assertOneLine(t, await run(CLI, ['config', 'validate', '--env-file=missing.env'], dir), 'missing.env', /not found/)
  writeFileSync(path.join(dir, 'other.env'), 'KUBELAB_SSH_USER=fromfile\n')
  const ok = await validate(['-c', 'cluster.config.yaml', '--env-file', 'other.env', '--json'], dir)
  t.is(ok.code, 0, ok.stderr)
  t.is(JSON.parse(ok.stdout).config.ssh.user, 'fromfile')
})
