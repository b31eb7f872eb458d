// The smoke runner: each check in order with its own timeout, a ✓/✗ line with its duration, the
// live reason while it waits (spinner on a TTY, -v otherwise), a failed check never stopping the
// ones after it. Workloads are removed at the end unless `keep`.

import { addonEnabled } from '../config/types.ts'
import type { Progress } from '../log/progress.ts'
import { formatDuration } from '../log/progress.ts'
import type { CheckResult, SmokeCheck, SmokeContext } from './types.ts'

function withTimeout<T>(p: Promise<T>, ms: number, last: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${Math.round(ms / 1000)}s${last() ? `: ${last()}` : ''}`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** One check's run: "not run" for an addon's check while the addon is off, else the check itself. */
export function runCheck(ctx: SmokeContext, check: SmokeCheck): Promise<string> {
  if (check.addon && !addonEnabled(ctx.config, check.addon)) return Promise.resolve(`not run: addons.${check.addon} is off`)
  return check.run(ctx)
}

export async function runSmoke(ctx: SmokeContext, checks: readonly SmokeCheck[], o: { keep: boolean; progress: Progress; numbers?: readonly number[] }): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  let reason = ''
  const say = (text: string) => {
    if (text === reason) return
    reason = text
    o.progress.status(text)
  }
  const run: SmokeContext = Object.assign(ctx, { say })
  try {
    await ctx.fx.namespace(run)
    for (const [i, check] of checks.entries()) {
      reason = ''
      const startedAt = Date.now()
      const label = `${String(o.numbers?.[i] ?? i + 1).padStart(2)}. ${check.title}`
      try {
        const detail = await o.progress.step(label, () => withTimeout(runCheck(run, check), check.timeoutMs * ctx.timeScale, () => reason), (d) => d)
        results.push({ id: check.id, title: check.title, ok: true, durationMs: Date.now() - startedAt, startedAt, detail })
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err)
        o.progress.info(`       ${error.split('\n').join('\n       ')}`)
        results.push({ id: check.id, title: check.title, ok: false, durationMs: Date.now() - startedAt, startedAt, error })
      }
    }
  } finally {
    if (!o.keep) await ctx.fx.cleanup()
  }
  const failed = results.filter((r) => !r.ok).length
  o.progress.info(`smoke: ${results.length - failed} passed, ${failed} failed (${formatDuration(results.reduce((s, r) => s + r.durationMs, 0))})`)
  return results
}
