// Waiting in a check: converge/wait.ts's waitFor with the suite's time scale (slower under
// emulated CPUs), probe errors counted as reasons, and the live reason told to the suite's runner.

import { waitFor } from '../converge/wait.ts'

/** What a wait needs of the smoke context (types.ts SmokeContext has it). */
export interface WaitScale {
  /** Every timeout is multiplied by this (4 under software-emulated CPUs). */
  readonly timeScale: number
  /** The live reason of the running check. */
  say(text: string): void
}

export function until(ctx: WaitScale, what: string, timeoutMs: number, probe: () => Promise<string | undefined>, everyMs = 500): Promise<void> {
  return waitFor(what, { timeoutMs: timeoutMs * ctx.timeScale, everyMs, retryErrors: true, onReason: (r) => ctx.say(r) }, probe)
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
