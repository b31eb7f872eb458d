// A Runner for unit tests: an in-memory node. Files live in a map (path -> content, mode), systemd
// is a table of units (enabled, active, start/restart counters), and every script is answered by
// an ordered table of handlers: the test's own first, then the built-in ones for what the converge
// helpers send (the sha256 listing of converge/files.ts, the service check and health loop of
// converge/service.ts, cat/test/install -d/mkdir -p/rm -f, systemctl, journalctl). Scripts are
// split the way bash would (`;`, newlines, `&&`, `||`, `{ ...; }`, `exit N`, `[ "$(cmd)" = x ]`,
// `set -e` semantics), so a handler answers one simple command. A script nothing understands
// throws, naming it: a test never passes on a command the fake cannot judge. `$` and `test` are
// built with the real dollarFor/testResult, so what arrives here is the real quoting.

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { posix } from 'node:path'
import type { ClusterConfig, NodeSpec } from '../../scripts/lib/config/types.ts'
import type { StepContext } from '../../scripts/lib/converge/step.ts'
import { CommandError } from '../../scripts/lib/errors.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import type { NodeFacts } from '../../scripts/lib/node/facts.ts'
import type { NodeHandle } from '../../scripts/lib/node/types.ts'
import { buildScript } from '../../scripts/lib/remote/quote.ts'
import { dollarFor, testResult, type Dollar, type FileToWrite, type Result, type RunOptions, type Runner, type UploadOptions } from '../../scripts/lib/remote/types.ts'

export interface FakeReply { exitCode?: number; stdout?: string; stderr?: string }
type Reply = Required<FakeReply>
/** Answers a script (one simple command, or a whole script), or undefined when it is not its kind. */
export type Handler = (script: string, fake: FakeRunner) => FakeReply | undefined
export interface FakeFile { content: Buffer; mode: number }
export interface FakeUnit {
  enabled: boolean
  active: boolean
  /** `start` of an inactive unit, and `restart`. */
  starts: number
  restarts: number
  /** Unit files changed on disk since systemd read them (no daemon-reload) when (re)started. */
  staleStarts: number
  /** What the unit does when it starts (its ExecStart), e.g. adding routes. */
  onStart?: () => void
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')
const ok = (stdout = ''): Reply => ({ exitCode: 0, stdout, stderr: '' })
const fail = (exitCode: number, stderr: string): Reply => ({ exitCode, stdout: '', stderr })
const UNIT_DIRS = ['/etc/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system']
const unitName = (u: string) => (/\.[a-z]+$/.test(u) ? u : `${u}.service`)
class Exit { constructor(readonly code: number) {} }
class NotUnderstood extends Error { constructor(message: string, readonly part: string) { super(message) } }

/** One bash word as remote/quote.ts writes it: plain, '...', "..." (no expansions) or $'...'. */
export function unquote(word: string): string {
  if (word.startsWith("$'") && word.endsWith("'")) {
    const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', v: '\v', '0': '\0' }
    return word.slice(2, -1).replace(/\\(.)/g, (_, c: string) => map[c] ?? c)
  }
  if (/^(['"]).*\1$/s.test(word)) return word.slice(1, -1)
  return word
}

/** The words of a simple command, unquoted. */
export const words = (text: string): string[] => (text.match(/\$'(?:\\.|[^'\\])*'|'[^']*'|"[^"]*"|\S+/g) ?? []).map(unquote)

/** Splits at `seps` outside quotes, $(...) and { ...; }: the parts and the separator after each. */
function split(s: string, seps: readonly string[]): { parts: string[]; ops: string[] } {
  const parts: string[] = []
  const ops: string[] = []
  let depth = 0, quote = '', start = 0
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (quote) {
      if (c === '\\' && quote !== "'") i++
      else if (c === quote[quote.length - 1]) quote = ''
      continue
    }
    if (c === "'" || c === '"') { quote = s[i - 1] === '$' && c === "'" ? "$'" : c; continue }
    if (c === '(' || c === '{') depth++
    else if (c === ')' || c === '}') depth--
    const sep = depth === 0 ? seps.find((x) => s.startsWith(x, i)) : undefined
    if (sep) { parts.push(s.slice(start, i)); ops.push(sep); i += sep.length - 1; start = i + 1 }
  }
  parts.push(s.slice(start))
  return { parts: parts.map((p) => p.trim()), ops }
}

export class FakeRunner implements Runner {
  readonly $: Dollar
  readonly files = new Map<string, FakeFile>()
  readonly dirs = new Set<string>(['/'])
  readonly units = new Map<string, FakeUnit>()
  /** Every script run, as sent. */
  readonly log: string[] = []
  /** Every path written (writeFile, writeFiles, an upload that sent). */
  readonly written: string[] = []
  daemonReloads = 0
  private readonly handlers: Handler[] = []
  /** What systemd read of each unit file (at daemon-reload, or when first loading it). */
  private readonly loaded = new Map<string, string>()
  private closed = false

  constructor(readonly node = 'fake') {
    this.$ = dollarFor((script, o) => this.run(script, o))
  }

  /** Answers scripts equal to `match` (string), matching it (RegExp: anchor it) or accepted by it. */
  on(match: string | RegExp | ((script: string) => boolean), reply: FakeReply | ((script: string, m?: RegExpMatchArray) => FakeReply)): this {
    this.handlers.push((s) => {
      const m = typeof match === 'string' ? (s === match ? [s] as RegExpMatchArray : null) : match instanceof RegExp ? s.match(match) : match(s) ? [s] as RegExpMatchArray : null
      return m ? (typeof reply === 'function' ? reply(s, m) : reply) : undefined
    })
    return this
  }

  unit(name: string): FakeUnit {
    const n = unitName(name)
    if (!this.units.has(n)) this.units.set(n, { enabled: false, active: false, starts: 0, restarts: 0, staleStarts: 0 })
    return this.units.get(n)!
  }

  text(path: string): string | undefined { return this.files.get(path)?.content.toString('utf8') }

  /** Puts a file in place without counting it as written by the code under test. */
  put(path: string, content: string | Buffer, mode = 0o644): void {
    this.files.set(path, { content: Buffer.from(content), mode })
    for (let d = posix.dirname(path); !this.dirs.has(d); d = posix.dirname(d)) this.dirs.add(d)
  }

  test(strings: TemplateStringsArray, ...values: unknown[]): Promise<boolean> { return this.testScript(buildScript(strings, values)) }
  testScript(script: string, options: RunOptions = {}): Promise<boolean> { return testResult(this.run(script, { ...options, nothrow: true })) }

  async run(script: string, options: RunOptions = {}): Promise<Result> {
    if (this.closed) throw new Error(`FakeRunner(${this.node}) is closed`)
    this.log.push(script)
    let r: Reply
    try {
      r = this.exec(script)
    } catch (e) {
      if (e instanceof NotUnderstood && e.part !== script.trim()) throw new Error(`${e.message}\n--- in the script ---\n${script}`)
      if (!(e instanceof Exit)) throw e
      r = { exitCode: e.code, stdout: '', stderr: '' }
    }
    const result: Result = { node: this.node, command: script, signal: null, durationMs: 0, ...r, ok: r.exitCode === 0 }
    if (!result.ok && !options.nothrow) throw new CommandError(result)
    return result
  }

  async writeFile(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
    if (this.closed) throw new Error(`FakeRunner(${this.node}) is closed`)
    this.put(path, content, mode)
    this.written.push(path)
  }

  async writeFiles(files: readonly FileToWrite[]): Promise<void> {
    for (const f of files) await this.writeFile(f.path, f.content, f.mode)
  }

  async upload(localFile: string, remotePath: string, sha256: string, options: UploadOptions = {}): Promise<'skipped' | 'sent'> {
    const have = this.files.get(remotePath)
    if (have && sha(have.content) === sha256) {
      have.mode = options.mode ?? 0o644
      return 'skipped'
    }
    const content = readFileSync(localFile)
    if (sha(content) !== sha256) throw new Error(`upload of ${localFile} failed verification: expected ${sha256}, got ${sha(content)}`)
    await this.writeFile(remotePath, content, options.mode)
    return 'sent'
  }

  close(): void { this.closed = true }

  /** One script or part of one: the test's handlers, then the built-in ones, else a clear error. */
  private exec(script: string): Reply {
    const s = script.trim()
    if (s === '') return ok()
    for (const h of [...this.handlers, ...this.builtins]) {
      const r = h(s, this)
      if (r) return { exitCode: r.exitCode ?? 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
    }
    throw new NotUnderstood(`FakeRunner(${this.node}) does not understand: ${s} (register a handler with .on())`, s)
  }

  /** A list element under `set -e`: the status, and whether the failing command was the chain's last (which exits). */
  private chain(s: string): { r: Reply; last: boolean } {
    const { parts, ops } = split(s, ['&&', '||'])
    let r = this.exec(parts[0]!)
    let last = parts.length === 1
    let out = r.stdout
    ops.forEach((op, i) => {
      if ((op === '&&') !== (r.exitCode === 0)) return
      r = this.exec(parts[i + 1]!)
      out += r.stdout
      last = i === ops.length - 1
    })
    return { r: { ...r, stdout: out }, last }
  }

  private capture(cmd: string): Reply {
    try { return this.exec(cmd) } catch (e) { if (e instanceof Exit) return { exitCode: e.code, stdout: '', stderr: '' }; throw e }
  }

  private fileTest(flag: string, path: string): Reply {
    const f = this.files.get(path)
    const yes = flag === '-d' ? this.dirs.has(path) : flag === '-s' ? Boolean(f && f.content.length > 0) : flag === '-e' ? Boolean(f) || this.dirs.has(path) : Boolean(f)
    return { exitCode: yes ? 0 : 1, stdout: '', stderr: '' }
  }

  /** systemd as far as the steps use it; a verb or flag it does not model is not understood (undefined). */
  private systemctl(verb: string, args: string[]): Reply | undefined {
    if (args.some((a) => a.startsWith('-') && a !== '--quiet' && a !== '-q' && a !== '--no-reload')) return undefined
    const units = args.filter((a) => !a.startsWith('-')).map(unitName)
    const file = (u: string) => UNIT_DIRS.map((d) => this.text(`${d}/${u}`)).find((t) => t !== undefined)
    if (verb === 'daemon-reload') {
      this.daemonReloads++
      for (const u of this.loaded.keys()) this.loaded.set(u, file(u) ?? '')
      return ok()
    }
    if (!['is-enabled', 'is-active', 'enable', 'stop', 'start', 'restart'].includes(verb) || units.length === 0) return undefined
    for (const u of units) {
      const unit = this.unit(u)
      if (verb === 'is-enabled') return unit.enabled ? ok() : fail(1, '')
      if (verb === 'is-active') return unit.active ? ok() : fail(3, '')
      const def = file(u)
      if (def === undefined) return fail(verb === 'enable' ? 1 : 5, `Unit ${u} not found.`)
      if (verb === 'enable') unit.enabled = true
      else if (verb === 'stop') unit.active = false
      else if (verb === 'restart' || !unit.active) {
        if (!this.loaded.has(u)) this.loaded.set(u, def)
        if (this.loaded.get(u) !== def) unit.staleStarts++
        if (verb === 'start') unit.starts++
        else unit.restarts++
        unit.active = true
        unit.onStart?.()
      }
    }
    return ok()
  }

  private readonly builtins: Handler[] = [
    // converge/files.ts hashCommand(): `sha256  path` for each file there, nothing for the others
    (s) => {
      const m = s.match(/^sha256sum -- (.*?)(?: 2>\/dev\/null \|\| true)?$/)
      return m ? ok(words(m[1]!).filter((p) => this.files.has(p)).map((p) => `${sha(this.files.get(p)!.content)}  ${p}\n`).join('')) : undefined
    },
    (s) => {
      const m = s.match(/^echo ([\w:.-]+)$/)
      return m ? ok(`${m[1]}\n`) : undefined
    },
    // converge/service.ts health loop: the fake has no clock, the health command is asked once
    (s) => {
      const m = s.match(/^for i in \$\(seq \d+\); do \{ (.*); \} >\/dev\/null 2>&1 && exit 0; sleep 0\.2; done; exit 1$/s)
      return m ? { exitCode: this.capture(m[1]!).exitCode === 0 ? 0 : 1 } : undefined
    },
    // structure: lists (`;`, newlines) under set -e, then && / || chains
    (s) => {
      const list = split(s, [';', '\n'])
      if (list.parts.length > 1) {
        let r = ok()
        let out = ''
        for (const p of list.parts.filter(Boolean)) {
          const c = this.chain(p)
          r = c.r
          out += r.stdout
          if (r.exitCode !== 0 && c.last) return { ...r, stdout: out }
        }
        return { ...r, stdout: out }
      }
      return split(s, ['&&', '||']).parts.length > 1 ? this.chain(s).r : undefined
    },
    (s) => {
      const m = s.match(/^exit (\d+)$/)
      if (m) throw new Exit(Number(m[1]))
      return undefined
    },
    // `{ cmd; }` and `cmd` with their output sent to /dev/null
    (s) => {
      const g = s.match(/^\{ (.*); \}$/s)
      if (g) return this.exec(g[1]!)
      const m = s.match(/^(.*?)\s*(>\s*\/dev\/null 2>&1|2>\s*\/dev\/null|>\s*\/dev\/null)$/s)
      if (!m) return undefined
      const r = this.exec(m[1]!)
      const to = m[2]!.replace(/\s/g, '')
      return { exitCode: r.exitCode, stdout: to === '2>/dev/null' ? r.stdout : '', stderr: to === '>/dev/null' ? r.stderr : '' }
    },
    (s) => {
      const m = s.match(/^\[ "\$\((.*)\)" = (\S+) \]$/s)
      return m ? { exitCode: this.capture(m[1]!).stdout.replace(/\n+$/, '') === unquote(m[2]!) ? 0 : 1 } : undefined
    },
    (s) => {
      const w = words(s)
      const [flag, path] = w[0] === 'test' && w.length === 3 ? w.slice(1) : w[0] === '[' && w.length === 4 && w[3] === ']' ? w.slice(1, 3) : []
      return flag && path && /^-[defs]$/.test(flag) ? this.fileTest(flag, path) : undefined
    },
    (s) => {
      const [cmd, ...args] = words(s)
      const paths = args.filter((a, i) => !a.startsWith('-') && !['-m', '-o', '-g'].includes(args[i - 1] ?? ''))
      if (cmd === 'cat' && paths.length === 1) {
        const f = this.files.get(paths[0]!)
        return f ? ok(f.content.toString('utf8')) : fail(1, `cat: ${paths[0]}: No such file or directory`)
      }
      if ((cmd === 'mkdir' && args.includes('-p')) || (cmd === 'install' && args[0] === '-d')) {
        for (const p of paths) for (let d = p; !this.dirs.has(d); d = posix.dirname(d)) this.dirs.add(d)
        return ok()
      }
      if (cmd === 'rm' && args.includes('-f')) {
        for (const p of paths) this.files.delete(p)
        return ok()
      }
      if (cmd === 'systemctl' && args[0]) return this.systemctl(args[0], args.slice(1))
      if (cmd === 'journalctl') return ok('(FakeRunner: no journal)\n')
      return undefined
    },
  ]
}

/** A NodeHandle on a FakeRunner (substrate: a machine container, unless given). */
export function fakeNode(spec: NodeSpec, substrate: Partial<NodeFacts> = {}): NodeHandle & { runner: FakeRunner } {
  return {
    spec,
    runner: new FakeRunner(spec.name),
    machine: { name: spec.name, role: spec.role, address: spec.address, state: 'running', provider: 'nspawn', ssh: { host: spec.address, port: 22, user: 'root' }, forwards: {} },
    substrate: { cgroupV1: false, restrictOomScoreAdj: true, conntrackReadOnly: true, virt: 'systemd-nspawn', ...substrate },
  }
}

/** The least StepContext for a config: a FakeRunner node per config node, no inputs, progress into `lines()` (durations stripped). */
export function fakeContext(config: ClusterConfig) {
  const out: string[] = []
  const progress = new Progress({ sink: { write: (t: string) => out.push(t) }, interactive: false })
  const nodes = config.nodes.map((n) => fakeNode(n))
  const ctx: Omit<StepContext, 'signal'> = { config, nodes, artifacts: [], images: [], progress, stateDir: '/nonexistent' }
  const lines = () => out.join('').split('\n').filter(Boolean).map((l) => l.replace(/ {2}\d+(\.\d+)?(ms|s)$/, ''))
  return { ctx, nodes, lines }
}
