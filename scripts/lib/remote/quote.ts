// remote/quote.ts — zx-style shell quoting for the `$` tagged template: every interpolated value
// becomes exactly one bash word (arrays become one word per element), so a template's literal parts
// are the only shell syntax. `raw()` opts a value out of quoting, deliberately and visibly.

const SAFE = /^[\w/.\-@:=,+%]+$/

/** Quotes one value as a single bash word (zx's algorithm: plain when safe, else $'...'). */
export function quote(arg: string): string {
  if (arg === '') return `$''`
  if (SAFE.test(arg)) return arg
  return (
    `$'` +
    arg
      .replace(/\\/g, '\\\\')
      .replace(/'/g, "\\'")
      .replace(/\f/g, '\\f')
      .replace(/\n/g, '\\n')
      .replace(/\r/g, '\\r')
      .replace(/\t/g, '\\t')
      .replace(/\v/g, '\\v')
      .replace(/\0/g, '\\0') +
    `'`
  )
}

/** Quotes one value as a single POSIX sh word (for `#!/bin/sh` files, where $'...' is not syntax). */
export function quoteSh(arg: string): string {
  if (arg !== '' && SAFE.test(arg)) return arg
  return `'${arg.replace(/'/g, `'\\''`)}'`
}

const RAW = Symbol('kubelab.raw')

/** A piece of shell text inserted into a `$` template unquoted. Use for trusted syntax only. */
export interface RawShell {
  readonly [RAW]: string
}

export function raw(text: string): RawShell {
  return { [RAW]: text }
}

function isRaw(v: unknown): v is RawShell {
  return typeof v === 'object' && v !== null && RAW in v
}

/** One interpolated value as shell text. */
export function quoteValue(v: unknown): string {
  if (isRaw(v)) return v[RAW]
  if (Array.isArray(v)) return v.map((x) => quoteValue(x)).join(' ')
  if (typeof v === 'string') return quote(v)
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return quote(String(v))
  if (v === undefined || v === null) throw new TypeError(`cannot interpolate ${String(v)} into a shell command`)
  // A previous result: zx interpolates its stdout, trimmed of the final newline.
  if (typeof v === 'object' && 'stdout' in v && typeof (v as { stdout: unknown }).stdout === 'string') {
    return quote((v as { stdout: string }).stdout.replace(/\n$/, ''))
  }
  return quote(String(v))
}

/** Builds the script text from a template: literal parts verbatim, values quoted. */
export function buildScript(strings: TemplateStringsArray | readonly string[], values: readonly unknown[]): string {
  let out = strings[0] ?? ''
  for (let i = 0; i < values.length; i++) out += quoteValue(values[i]) + (strings[i + 1] ?? '')
  return out
}
