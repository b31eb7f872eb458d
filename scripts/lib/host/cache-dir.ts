// Where the host cache is: KUBELAB_CACHE, default ~/.cache/kubelab (its layout: artifacts/cache.ts).

import os from 'node:os'
import path from 'node:path'

export function cacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.KUBELAB_CACHE) return path.resolve(env.KUBELAB_CACHE)
  return path.join(env.HOME ?? os.homedir(), '.cache', 'kubelab')
}
