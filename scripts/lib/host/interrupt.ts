// Ctrl-C and SIGTERM. What must not outlive an interrupted command registers a cleanup for as long
// as it exists: the cluster lock, `plan`'s throwaway PKI copy (CA keys), temp files on nodes. The
// first signal runs every registered cleanup, newest first and bounded in time (the lock, taken
// first, goes last), then the process exits 130 (SIGINT) or 143 (SIGTERM), which ends the work in
// flight; a second signal exits at once.
//
// Signals belong to the process, so this is the one process-wide registry in kubelab (installed
// only by the CLI entry point, scripts/kubelab.ts); without it registrations cost nothing.

export type Cleanup = () => void | Promise<void>

/** How long all async cleanups (e.g. removing temp files on nodes) may take together. */
const CLEANUP_BUDGET_MS = 5_000

const cleanups = new Set<Cleanup>()

/** Registers `fn` until the returned function is called (on the normal path the owner cleans up itself). */
export function onInterrupt(fn: Cleanup): () => void {
  cleanups.add(fn)
  return () => { cleanups.delete(fn) }
}

/** Runs every registered cleanup once, newest first; an async one gets what is left of the budget. */
export async function runCleanups(budgetMs = CLEANUP_BUDGET_MS): Promise<void> {
  const deadline = Date.now() + budgetMs
  for (const fn of [...cleanups].reverse()) {
    cleanups.delete(fn)
    try {
      const r = fn()
      if (r instanceof Promise) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([r, new Promise((resolve) => { timer = setTimeout(resolve, Math.max(0, deadline - Date.now())) })])
        clearTimeout(timer)
      }
    } catch { /* a cleanup that fails must not stop the others */ }
  }
}

export interface InterruptIO {
  stderr: { write(s: string): unknown }
  exit(code: number): void
}

/** Installs the SIGINT/SIGTERM handlers (the CLI entry point does, once); returns their removal. */
export function installInterruptHandlers(io: InterruptIO = { stderr: process.stderr, exit: (c) => process.exit(c) }): () => void {
  let interrupted = false
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const code = signal === 'SIGINT' ? 130 : 143
    const handler = () => {
      if (interrupted) {
        io.stderr.write(`\n! ${signal} again: stopping now\n`)
        io.exit(code)
        return
      }
      interrupted = true
      io.stderr.write(`\n! interrupted (${signal}): cleaning up (again to stop at once); nothing is lost: run the same command again to continue\n`)
      void runCleanups().finally(() => io.exit(code))
    }
    process.on(signal, handler)
    return [signal, handler] as const
  })
  return () => { for (const [signal, handler] of handlers) process.off(signal, handler) }
}
