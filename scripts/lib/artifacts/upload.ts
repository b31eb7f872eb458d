// Puts the resolved files on the nodes. Only the plan lives here (which file goes to which node and
// where); the transfer is the Runner's `upload(local, remote, sha256)`, which MUST skip a file the
// node already has with that sha256 and MUST verify what it wrote. Works with any object that has
// that method, so it plugs into the ssh2 Runner when it lands (scripts/lib/remote/).

import type { Role } from '../config/schema.ts'
import { StepError } from '../errors.ts'
import { mapLimit } from '../remote/limit.ts'
import type { Artifact } from './resolve.ts'

export interface Uploader {
  upload(local: string, remote: string, sha256: string, options?: { mode?: number }): Promise<'skipped' | 'sent'>
}

export interface UploadNode {
  readonly name: string
  readonly role: Role
  readonly runner: Uploader
}

export interface UploadResult {
  readonly node: string
  readonly file: string
  readonly remote: string
  readonly result: 'skipped' | 'sent'
  readonly durationMs: number
}

/** Where a file goes on a node, or undefined when this node does not get it (images, control-plane only). */
export function remotePathFor(a: Artifact, role: Role): string | undefined {
  if (a.nodes === 'image' || !a.install) return undefined
  if ((a.nodes === 'control-plane' || a.nodes === 'registry') && role !== 'control-plane') return undefined
  return `${a.install.replace(/\/+$/, '')}/${a.file}`
}

/**
 * Uploads every artifact each node needs, at most `concurrency` transfers at once over all nodes.
 * Work is interleaved by node so all nodes progress together. The first failure stops new
 * transfers and is thrown as StepError('artifacts:upload', node) once running ones settle.
 */
export async function uploadAll(nodes: readonly UploadNode[], artifacts: readonly Artifact[], concurrency = 4): Promise<UploadResult[]> {
  const perNode = nodes.map((n) => artifacts.flatMap((a) => {
    const remote = remotePathFor(a, n.role)
    return remote ? [{ node: n, a, remote }] : []
  }))
  const tasks: { node: UploadNode; a: Artifact; remote: string }[] = []
  for (let i = 0; perNode.some((l) => i < l.length); i++) for (const l of perNode) if (i < l.length) tasks.push(l[i]!)

  return mapLimit(tasks, concurrency, async (t) => {
    const started = Date.now()
    try {
      const result = await t.node.runner.upload(t.a.path, t.remote, t.a.sha256, { mode: 0o755 }) // every artifact is a program
      return { node: t.node.name, file: t.a.file, remote: t.remote, result, durationMs: Date.now() - started }
    } catch (err) {
      throw new StepError('artifacts:upload', t.node.name, err, { hint: `uploading ${t.a.file} to ${t.remote}` })
    }
  })
}
