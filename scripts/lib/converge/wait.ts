// The one wait helper: poll a probe until it says done, with a deadline, a live reason and a
// cancel signal. The probe returns undefined when done, else what is still missing; that reason
// goes to `onReason` while waiting and into the error when time is up.

import { setTimeout as sleep } from 'node:timers/promises'

/** A wait ended because its signal was aborted (another node's step failed): not a failure of its own. */
export class WaitCancelled extends Error {
  constructor(what: string) {
    super(`stopped waiting for ${what}: the run is stopping`)
    this.name = 'WaitCancelled'
  }
}

export interface WaitOptions {
  timeoutMs: number
  /** Pause between probes (default 250 ms). */
  everyMs?: number
  signal?: AbortSignal
  /** Each reason as the probe reports it (the spinner line, or -v). */
  onReason?: (reason: string) => void
  /** A probe that throws reports a reason instead of ending the wait (its first line). */
  retryErrors?: boolean
}

export async function waitFor(what: string, o: WaitOptions, probe: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + o.timeoutMs
  for (;;) {
    if (o.signal?.aborted) throw new WaitCancelled(what)
    let reason: string | undefined
    try {
      reason = await probe()
    } catch (err) {
      if (!o.retryErrors) throw err
      reason = (err as Error).message.split('\n')[0] ?? String(err)
    }
    if (reason === undefined) return
    o.onReason?.(`${what}: ${reason}`)
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(o.timeoutMs / 1000)}s waiting for ${what}: ${reason}`)
    try {
      await sleep(o.everyMs ?? 250, undefined, o.signal ? { signal: o.signal } : {})
    } catch {
      throw new WaitCancelled(what)
    }
  }
}
