// Strict text templates: `{{ name }}` placeholders, nothing else. A placeholder without a value,
// or a value that no placeholder uses, is an error (never an empty string, never a silent extra).
// Only unit files and other plain-text files are templates; YAML/JSON/TOML are built as data
// (files.ts) and serialised.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { TemplateError } from '../errors.ts'
import { packagePath } from '../host/package.ts'

export const TEMPLATE_DIR = packagePath('templates')

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g
/** Anything that looks like template syntax but is not a well-formed placeholder. */
const STRAY = /\{\{|\}\}/

export function placeholders(text: string): Set<string> {
  return new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]!))
}

export type TemplateValues = Readonly<Record<string, string>>

/**
 * What a value inside a line may hold. A placeholder alone on its line is a block (any lines of
 * text); one inside a line gets one line; inside a unit file one plain word, since systemd reads
 * whitespace, quotes, `\`, `;`, `%` (specifiers) and `$` (variables) as syntax. Config values are
 * validated to their types first (config/fields.ts); this is the last line of defence.
 */
const ONE_LINE = /^[^\n\r\0]*$/
const UNIT_WORD = /^[A-Za-z0-9_.,:/=@+-]*$/

function inlineProblems(name: string, text: string, values: TemplateValues): string[] {
  const inline = new Set(text.split('\n').filter((l) => !/^\s*\{\{\s*[A-Za-z][A-Za-z0-9]*\s*\}\}\s*$/.test(l))
    .flatMap((l) => [...l.matchAll(PLACEHOLDER)].map((m) => m[1]!)))
  const word = name.startsWith('systemd/') ? UNIT_WORD : ONE_LINE
  return [...inline].filter((k) => values[k] !== undefined && !word.test(values[k]!)).sort()
    .map((k) => `the value for {{ ${k} }} is not ${word === UNIT_WORD ? 'one plain word' : 'one line'}: ${JSON.stringify(values[k]!.slice(0, 80))}`)
}

export function renderText(name: string, text: string, values: TemplateValues): string {
  const used = placeholders(text)
  const missing = [...used].filter((p) => values[p] === undefined).sort()
  const unknown = Object.keys(values).filter((k) => !used.has(k)).sort()
  const problems: string[] = []
  if (missing.length) problems.push(`no value for ${missing.map((m) => `{{ ${m} }}`).join(', ')}`)
  if (unknown.length) problems.push(`values not used by the template: ${unknown.join(', ')}`)
  problems.push(...inlineProblems(name, text, values))
  if (problems.length) throw new TemplateError(`template ${name}: ${problems.join('; ')}`)
  const out = text.replace(PLACEHOLDER, (_, key: string) => values[key]!)
  const stray = out.split('\n').findIndex((l) => STRAY.test(l))
  if (stray >= 0) throw new TemplateError(`template ${name}: malformed placeholder on line ${stray + 1}`)
  return out
}

export function readTemplate(name: string): string {
  try {
    return readFileSync(path.join(TEMPLATE_DIR, name), 'utf8')
  } catch (err) {
    throw new TemplateError(`template ${name}: cannot read ${path.join(TEMPLATE_DIR, name)}`, { cause: err })
  }
}

export function renderTemplate(name: string, values: Readonly<Record<string, string>>): string {
  return renderText(name, readTemplate(name), values)
}
