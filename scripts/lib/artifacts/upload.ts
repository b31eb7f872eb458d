// Puts the resolved files on the nodes. Only the plan lives here (which file goes to which node and
// where); the transfer is the Runner's `upload(local, remote, sha256)`, which MUST skip a file the
// node already has with that sha256 and MUST verify what it wrote. Files a node reads in place from
// the host cache shared into it (nspawn) are installed by one command for all of them instead
// (remote/transfer.ts installSharedScript: the same skip, copy, verify and rename per file).

import type { Role } from '../config/schema.ts'
import { CommandError, StepError } from '../errors.ts'
import { mapLimit } from '../remote/limit.ts'
import { installSharedScript, VERIFY_FAILED_EXIT } from '../remote/transfer.ts'
import type { Result, RunOptions } from '../remote/types.ts'
import type { Artifact } from './resolve.ts'

export interface Uploader {
  upload(local: string, remote: string, sha256: string, options?: { mode?: number }): Promise<'skipped' | 'sent'>
  /** Where the node reads a host file in place (runner.ts), for one batched install of all of them. */
  sharedPath?(local: string): string | undefined
  run?(script: string, options?: RunOptions): Promise<Result>
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
  const all = nodes.map((n) => artifacts.flatMap((a) => {
    const remote = remotePathFor(a, n.role)
    return remote ? [{ node: n, a, remote }] : []
  }))
  // Files the node reads from the cache share: installed by one command per node; the rest streamed.
  const local = await Promise.all(all.map((l) => installShared(l)))
  const perNode = all.map((l, i) => l.filter((t) => !local[i]!.some((r) => r.remote === t.remote)))
  const tasks: { node: UploadNode; a: Artifact; remote: string }[] = []
  for (let i = 0; perNode.some((l) => i < l.length); i++) for (const l of perNode) if (i < l.length) tasks.push(l[i]!)

  const streamed = await mapLimit(tasks, concurrency, async (t) => {
    const started = Date.now()
    try {
      const result = await t.node.runner.upload(t.a.path, t.remote, t.a.sha256, { mode: 0o755 }) // every artifact is a program
      return { node: t.node.name, file: t.a.file, remote: t.remote, result, durationMs: Date.now() - started }
    } catch (err) {
      throw new StepError('artifacts:upload', t.node.name, err, { hint: `uploading ${t.a.file} to ${t.remote}` })
    }
  })
  return [...local.flat(), ...streamed]
}

/** One node's files that lie in its cache share, installed by one command (installSharedScript). */
async function installShared(tasks: readonly { node: UploadNode; a: Artifact; remote: string }[]): Promise<UploadResult[]> {
  const runner = tasks[0]?.node.runner
  const files = tasks.flatMap((t) => {
    const shared = runner?.run ? runner.sharedPath?.(t.a.path) : undefined
    return shared ? [{ t, shared, path: t.remote, sha256: t.a.sha256, mode: 0o755 }] : []
  })
  if (!runner?.run || files.length === 0) return []
  const node = tasks[0]!.node.name
  const started = Date.now()
  const r = await runner.run(installSharedScript(files), { nothrow: true })
  if (r.exitCode === VERIFY_FAILED_EXIT) {
    const [file, got] = r.stderr.trim().split('\n').pop()!.split(' ')
    throw new StepError('artifacts:upload', node, new Error(`the copy of ${file} from the cache share does not verify: expected sha256 ${files.find((f) => f.path === file)?.sha256}, the node has ${got}`),
      { hint: 'the cache file changed while it was copied; run up again (the cache is verified again first)' })
  }
  if (!r.ok) throw new StepError('artifacts:upload', node, new CommandError(r), { hint: 'installing the binaries from the cache share' })
  const done = new Map(r.stdout.split('\n').map((l) => l.split(' ')).filter((w) => w.length === 2).map(([what, p]) => [p!, what as 'skipped' | 'sent']))
  const ms = Date.now() - started
  return files.map((f) => ({ node, file: f.t.a.file, remote: f.path, result: done.get(f.path) ?? 'sent', durationMs: ms }))
}
