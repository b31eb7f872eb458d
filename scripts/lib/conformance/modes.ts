// What `kubelab conformance` runs: the mode's ginkgo focus/skip, and the e2e.test argv (pure).
// quick: one pod-only [Conformance] test whose only image is the pause image (already on every
// node); lite: a handful of [Conformance] tests that pull nothing from a registry (pause-only pods
// and API-only tests); certified: every [Conformance] test, as upstream's certification runs it.

import { UsageError } from '../errors.ts'

export type ConformanceMode = 'quick' | 'lite' | 'certified'
export const MODES: readonly ConformanceMode[] = ['quick', 'lite', 'certified']

/** Escapes a test name for a ginkgo focus regex. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** The quick mode's test: creates a pause pod and reads its hostIP. */
export const QUICK_TEST = '[sig-node] Pods should get a host IP [NodeConformance] [Conformance]'

/** The lite mode's tests: pods whose only image is pause, or no pod at all. */
export const LITE_TESTS: readonly string[] = [
  QUICK_TEST,
  '[sig-node] Pods should be submitted and removed [NodeConformance] [Conformance]',
  '[sig-node] Pods should be updated [NodeConformance] [Conformance]',
  '[sig-node] Pods should allow activeDeadlineSeconds to be updated [NodeConformance] [Conformance]',
  '[sig-node] ConfigMap should run through a ConfigMap lifecycle [Conformance]',
  '[sig-node] Secrets should patch a secret [Conformance]',
  '[sig-api-machinery] Discovery should validate PreferredVersion for each APIGroup [Conformance]',
]

export interface Selection {
  readonly focus: string
  readonly skip?: string
}

export function parseMode(text: string | undefined): ConformanceMode {
  const mode = text ?? 'quick'
  if (!(MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`unknown conformance mode "${mode}"`, { hint: `--mode ${MODES.join(' | ')}` })
  }
  return mode as ConformanceMode
}

/** Compiles `re` (a --focus or --skip value) or throws a UsageError naming the flag. */
function checkRegex(flag: string, re: string): void {
  try {
    new RegExp(re)
  } catch (e) {
    throw new UsageError(`--${flag} is not a valid regular expression: ${(e as Error).message}`)
  }
}

/** The ginkgo focus (and skip) of a mode; an explicit --focus replaces the mode's focus, --skip is added. */
export function selection(mode: ConformanceMode, focus?: string, skip?: string): Selection {
  if (skip !== undefined) checkRegex('skip', skip)
  const withSkip = (s: Selection): Selection => (skip !== undefined ? { ...s, skip: s.skip ? `${s.skip}|${skip}` : skip } : s)
  if (focus !== undefined) {
    checkRegex('focus', focus)
    return withSkip({ focus })
  }
  switch (mode) {
    // ginkgo matches the focus against "<suite description> <spec text>": anchored at the end only.
    case 'quick': return withSkip({ focus: `${escapeRegex(QUICK_TEST)}$` })
    case 'lite': return withSkip({ focus: `(${LITE_TESTS.map(escapeRegex).join('|')})$` })
    case 'certified': return withSkip({ focus: '\\[Conformance\\]' })
  }
}

export interface E2eArgs {
  readonly kubeconfig: string
  readonly reportDir: string
  readonly selection: Selection
  readonly kubectl?: string
  /** ginkgo's suite timeout. */
  readonly timeout: string
  /** List the selected tests instead of running them. */
  readonly dryRun?: boolean
}

/** The e2e.test argv (the binary runs its ginkgo suite directly, one test at a time). */
export function e2eArgs(a: E2eArgs): string[] {
  return [
    `--kubeconfig=${a.kubeconfig}`,
    '--provider=skeleton',
    `--report-dir=${a.reportDir}`,
    `--ginkgo.focus=${a.selection.focus}`,
    ...(a.selection.skip ? [`--ginkgo.skip=${a.selection.skip}`] : []),
    `--ginkgo.timeout=${a.timeout}`,
    '--ginkgo.no-color',
    '--ginkgo.v',
    ...(a.kubectl ? [`--kubectl-path=${a.kubectl}`] : []),
    ...(a.dryRun ? ['--ginkgo.dry-run'] : []),
  ]
}

export function defaultTimeout(mode: ConformanceMode, focused: boolean): string {
  if (focused) return '6h'
  return mode === 'certified' ? '24h' : mode === 'lite' ? '1h' : '30m'
}

export interface JunitSummary {
  readonly tests: number
  readonly failures: number
  readonly errors: number
  readonly skipped: number
  /** Names of the tests ([It] cases) that ran and did not fail or get skipped; failed also lists a failed suite node. */
  readonly passed: string[]
  readonly failed: string[]
}

/** Reads the totals and case outcomes of e2e.test's junit_01.xml (no XML library: its shape is fixed). */
export function summarizeJunit(xml: string): JunitSummary {
  const suite = /<testsuite\b([^>]*)>/.exec(xml)?.[1] ?? ''
  const attr = (name: string) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(suite)?.[1] ?? 0)
  const passed: string[] = []
  const failed: string[] = []
  const cases = xml.matchAll(/<testcase\b[^>]*\bname="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)
  for (const m of cases) {
    const name = m[1]!.replace(/&#34;|&quot;/g, '"').replace(/&#39;|&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
    const body = m[2] ?? ''
    // Only the tests themselves ([It]); suite setup nodes ([SynchronizedBeforeSuite], ...) count as failed only when they fail.
    const isTest = name.startsWith('[It] ')
    if (/<skipped\b/.test(body)) continue
    if (!isTest && !/<(failure|error)\b/.test(body)) continue
    const shown = name.replace(/^\[It\] /, '')
    if (/<(failure|error)\b/.test(body)) failed.push(shown)
    else passed.push(shown)
  }
  return { tests: attr('tests'), failures: attr('failures'), errors: attr('errors'), skipped: attr('skipped'), passed, failed }
}
