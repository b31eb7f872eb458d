// Loading cluster.config.yaml: parse with positions, apply overrides, validate, resolve.
//
// Precedence, highest first: flags > environment > .env > YAML > defaults. `.env` sits next to the
// config file (or is given with --env-file) and is read with dotenv without touching process.env.
// Every problem is reported at once, each as file:line:col path: message; nothing runs on a
// config with problems.

import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs'
import path from 'node:path'
import dotenv from 'dotenv'
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml'
import { ConfigError, type ConfigIssue, type SourceLocation } from '../errors.ts'
import { resolve } from './resolve.ts'
import type { ConfigInput } from './schema.ts'
import type { ClusterConfig } from './types.ts'
import { formatPath, validate, type Anchor, type PathSegment } from './validate.ts'

/** Environment variables that override one config field each (documented in the README). */
export const ENV_OVERRIDES: Readonly<Record<string, readonly string[]>> = {
  KUBELAB_PROVIDER: ['provider', 'type'],
  KUBELAB_KUBERNETES_VERSION: ['kubernetes', 'version'],
  KUBELAB_DEBIAN_MIRROR: ['provider', 'debianMirror'],
  KUBELAB_ARTIFACTS_SOURCE: ['artifacts', 'source'],
  KUBELAB_ARTIFACTS_MIRROR: ['artifacts', 'mirror'],
  KUBELAB_SSH_USER: ['ssh', 'user'],
  KUBELAB_SSH_KEY_FILE: ['ssh', 'keyFile'],
  KUBELAB_EGRESS: ['egress', 'enabled'],
  KUBELAB_UPLINK_NETNS: ['egress', 'uplinkNetns'],
  KUBELAB_DNS: ['egress', 'dns'],
}

/** An on/off switch as the environment spells it (`off`, `false`, `0` / `on`, `true`, `1`); undefined for anything else. */
export function switchValue(text: string): boolean | undefined {
  return ({ off: false, false: false, '0': false, on: true, true: true, '1': true } as Record<string, boolean>)[text.toLowerCase()]
}

/** How an override's text becomes the field's value where the field is not a string (else the text as is, for the schema to judge). */
const ENV_VALUES: Readonly<Record<string, (text: string) => unknown>> = {
  KUBELAB_EGRESS: (t) => switchValue(t) ?? t,
  KUBELAB_DNS: (t) => t.split(',').map((s) => s.trim()).filter(Boolean),
}

/** A value set from outside the file: a flag or an environment variable. */
export interface Override {
  path: readonly string[]
  value: unknown
  /** Shown instead of file:line, e.g. "--provider (flag)". */
  origin: string
}

export interface LoadOptions {
  /** Process environment; default process.env. */
  env?: Readonly<Record<string, string | undefined>>
  /** .env file, which must exist; default: `.env` beside the config file (missing is fine). */
  envFile?: string
  /** Overrides from flags (they beat the environment). */
  flags?: readonly Override[]
}

export interface LoadedConfig {
  config: ClusterConfig
  input: ConfigInput
  /** The merged environment the config was resolved with (.env under the process environment). */
  env: Readonly<Record<string, string | undefined>>
}

/** A config is a few KiB; anything near this is not one (and would flood the report). */
const MAX_INPUT_BYTES = 1024 * 1024
/** At most this many problems are listed, each at most this long; the rest is counted. */
const MAX_ISSUES = 20
const MAX_MESSAGE = 240

/** A problem with the file as a whole (missing, not a file, not text): a ConfigError naming it. */
function fileError(display: string, message: string): ConfigError {
  return new ConfigError(display, [{ path: '', message, location: { file: display } }])
}

/**
 * The text of a config or .env file, or a ConfigError saying why not. Opened non-blocking and
 * checked with fstat before any read, so a FIFO or device is refused at once instead of blocking
 * the process (and its signal handlers). `notFound`: the message for a missing file; without it a
 * missing file reads as undefined.
 */
export function readInputFile(file: string, display: string, notFound?: string): string | undefined {
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && notFound === undefined) return undefined
    if (code === 'ENOENT') throw fileError(display, notFound!)
    if (code === 'EISDIR') throw fileError(display, 'is a directory, not a file')
    throw fileError(display, `cannot be opened (${code ?? (err as Error).message})`)
  }
  try {
    const st = fstatSync(fd)
    if (st.isDirectory()) throw fileError(display, 'is a directory, not a file')
    if (!st.isFile()) throw fileError(display, 'is not a regular file (a FIFO, socket or device); give a file')
    if (st.size > MAX_INPUT_BYTES) throw fileError(display, `is ${st.size} bytes, too big for a config (at most ${MAX_INPUT_BYTES})`)
    const bytes = readFileSync(fd)
    if (bytes.includes(0)) throw fileError(display, 'is a binary file, not YAML or .env text')
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
    } catch {
      throw fileError(display, 'is not UTF-8 text')
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw fileError(display, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  } finally {
    closeSync(fd)
  }
}

/** Problems as the report shows them: at most MAX_ISSUES, each message at most MAX_MESSAGE long. */
function bounded(issues: ConfigIssue[], display: string): ConfigIssue[] {
  const clip = (m: string) => (m.length > MAX_MESSAGE ? `${m.slice(0, MAX_MESSAGE)}... (${m.length - MAX_MESSAGE} more characters)` : m)
  const shown = issues.slice(0, MAX_ISSUES).map((i) => ({ ...i, message: clip(i.message) }))
  if (issues.length > MAX_ISSUES) {
    shown.push({ path: '', message: `... and ${issues.length - MAX_ISSUES} more problems`, location: { file: display } })
  }
  return shown
}

/**
 * The environment as kubelab sees it: .env values under the real environment. `required`: the
 * file was named (--env-file), so it must exist.
 */
export function loadEnv(envFile: string, processEnv: Readonly<Record<string, string | undefined>>, required = false): Record<string, string | undefined> {
  const text = readInputFile(envFile, envFile, required ? 'file not found (named by --env-file)' : undefined)
  const fromFile = text === undefined ? {} : dotenv.parse(text)
  return { ...fromFile, ...processEnv }
}

function envOverrides(env: Readonly<Record<string, string | undefined>>, fromDotenv: ReadonlySet<string>): Override[] {
  return Object.entries(ENV_OVERRIDES).flatMap(([name, p]) => {
    const value = env[name]
    if (value === undefined || value === '') return []
    return [{ path: p, value: ENV_VALUES[name]?.(value) ?? value, origin: `${name} (${fromDotenv.has(name) ? '.env' : 'environment'})` }]
  })
}

function setIn(target: Record<string, unknown>, p: readonly string[], value: unknown): void {
  let cur = target
  for (const key of p.slice(0, -1)) {
    const next = cur[key]
    if (!next || typeof next !== 'object' || Array.isArray(next)) cur[key] = {}
    cur = cur[key] as Record<string, unknown>
  }
  cur[p[p.length - 1]!] = value
}

/** Maps a path in the data to a position in the YAML source. */
export class SourceMap {
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly overrides: readonly Override[],
  ) {}

  locate(segments: readonly PathSegment[], anchor: Anchor): SourceLocation {
    const o = this.overrides.find((ov) => ov.path.length <= segments.length && ov.path.every((s, i) => s === segments[i]))
    if (o) return { origin: o.origin }
    let node: unknown = this.doc.contents
    let at: YamlNode | null = (this.doc.contents as YamlNode | null) ?? null
    const walk = anchor === 'parent' ? segments.slice(0, -1) : segments
    for (let i = 0; i < walk.length; i++) {
      const seg = walk[i]
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg)
        if (!pair) break
        const isLast = i === walk.length - 1
        if (isLast && anchor === 'key') { at = pair.key as YamlNode; break }
        node = pair.value
        at = (pair.value as YamlNode | null)?.range ? (pair.value as YamlNode) : (pair.key as YamlNode)
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
        node = node.items[seg]
        at = node as YamlNode
      } else break
    }
    const offset = at?.range?.[0] ?? 0
    const pos = this.lines.linePos(offset)
    return { file: this.file, line: pos.line, col: pos.col }
  }
}

/** Reads, validates and resolves a config file. Throws ConfigError with every problem found. */
export function loadConfig(file: string, options: LoadOptions & { display?: string } = {}): LoadedConfig {
  const display = options.display ?? file
  const text = readInputFile(file, display, 'file not found (give another with -c FILE)')!
  return parseConfig(text, { ...options, file: path.resolve(file), display })
}

/** The same as loadConfig, from text (for tests and stdin). */
export function parseConfig(
  text: string,
  options: LoadOptions & { file: string; display?: string },
): LoadedConfig {
  const display = options.display ?? options.file
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(display, bounded(doc.errors.map((e) => {
      const pos = lines.linePos(e.pos[0])
      return {
        path: '',
        message: `invalid YAML: ${e.message.split('\n')[0]}`,
        location: { file: display, line: pos.line, col: pos.col },
      }
    }), display))
  }

  const envFile = options.envFile ?? path.join(path.dirname(options.file), '.env')
  const processEnv = options.env ?? process.env
  const env = loadEnv(envFile, processEnv, options.envFile !== undefined)
  const fromDotenv = new Set(Object.keys(env).filter((k) => processEnv[k] === undefined))
  const flagPaths = new Set((options.flags ?? []).map((f) => f.path.join('.')))
  const overrides = [
    ...(options.flags ?? []),
    ...envOverrides(env, fromDotenv).filter((o) => !flagPaths.has(o.path.join('.'))),
  ]

  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    // yaml refuses alias expansion past maxAliasCount (a "billion laughs" document).
    throw fileError(display, `invalid YAML: ${(err as Error).message.split('\n')[0]} (aliases expand to too many nodes)`)
  }
  if (data && typeof data === 'object' && !Array.isArray(data)) {
    for (const o of overrides) setIn(data as Record<string, unknown>, o.path, o.value)
  }

  const map = new SourceMap(display, doc, lines, overrides)
  const problems = validate(data, env, path.dirname(options.file))
  if (problems.length > 0) {
    const issues: ConfigIssue[] = problems.map((p) => ({
      path: formatPath(p.path),
      message: p.message,
      location: map.locate(p.path, p.anchor),
    }))
    issues.sort((a, b) => (a.location.line ?? Infinity) - (b.location.line ?? Infinity) || (a.location.col ?? 0) - (b.location.col ?? 0))
    throw new ConfigError(display, bounded(issues, display))
  }
  const input = data as ConfigInput
  return { config: resolve(input, env, options.file), input, env }
}
