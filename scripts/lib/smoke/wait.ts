// Waiting in a check: poll until the probe says done (undefined) or the deadline passes; the live
// reason goes to the runner while waiting and into the error when time is up.

import type { SmokeContext } from './types.ts'

export async function until(ctx: SmokeContext, what: string, timeoutMs: number, probe: () => Promise<string | undefined>, everyMs = 500): Promise<void> {
  timeoutMs *= ctx.timeScale
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let reason: string | undefined
    try {
      reason = await probe()
    } catch (err) {
      reason = (err as Error).message.split('\n')[0]
    }
    if (reason === undefined) return
    ctx.say(`${what}: ${reason}`)
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}: ${reason}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
