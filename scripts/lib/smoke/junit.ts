// JUnit XML for CI: one testsuite, one testcase per check, failures with their reason.

import type { CheckResult } from './types.ts'

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
  // XML 1.0 forbids most control characters, which logs can carry.
  .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '')

export function junitXml(suite: string, results: readonly CheckResult[], startedAt: Date): string {
  const failures = results.filter((r) => !r.ok).length
  const time = (ms: number) => (ms / 1000).toFixed(3)
  const total = results.reduce((s, r) => s + r.durationMs, 0)
  const cases = results.map((r, i) => {
    const open = `  <testcase classname="${esc(suite)}" name="${esc(`${String(i + 1).padStart(2, '0')} ${r.id}: ${r.title}`)}" time="${time(r.durationMs)}"`
    if (r.ok) return `${open}>\n    <system-out>${esc(r.detail ?? '')}</system-out>\n  </testcase>`
    return `${open}>\n    <failure message="${esc((r.error ?? '').split('\n')[0]!)}">${esc(r.error ?? '')}</failure>\n  </testcase>`
  })
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${results.length}" failures="${failures}" time="${time(total)}">`,
    `<testsuite name="${esc(suite)}" tests="${results.length}" failures="${failures}" errors="0" skipped="0" time="${time(total)}" timestamp="${startedAt.toISOString()}">`,
    ...cases,
    '</testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}
