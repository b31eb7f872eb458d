// remote/limit.ts — bounded concurrency: a counting semaphore and mapLimit (run fn over items with
// at most N in flight, results in input order, first error wins after all started work settles).

export class Semaphore {
  private waiters: (() => void)[] = []
  private used = 0
  constructor(readonly size: number) {}

  get available(): number {
    return this.size - this.used
  }

  /** Takes a slot if one is free, without waiting. */
  tryAcquire(): boolean {
    if (this.used >= this.size) return false
    this.used++
    return true
  }

  async acquire(): Promise<void> {
    if (this.tryAcquire()) return
    await new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  release(): void {
    const next = this.waiters.shift()
    if (next) next() // the slot passes straight to the waiter
    else this.used--
  }

  get waiting(): number {
    return this.waiters.length
  }
}

/** Maps with at most `limit` calls in flight. Rejects with the first error once all calls settled. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  let firstError: { err: unknown } | undefined
  const worker = async () => {
    while (next < items.length && !firstError) {
      const i = next++
      try {
        results[i] = await fn(items[i] as T, i)
      } catch (err) {
        firstError ??= { err }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  if (firstError) throw firstError.err
  return results
}
