// artifacts:upload — the verified binaries each node needs, from the host cache to the node: sent
// once (the Runner skips a file whose sha256 already matches, and copies locally from the cache
// share on machine containers). A manifest on the node makes the re-run check one cheap command.

import { remotePathFor, uploadAll } from '../artifacts/upload.ts'
import { differing } from '../converge/files.ts'
import type { Step, StepContext } from '../converge/step.ts'
import { ARTIFACTS_MANIFEST as MANIFEST, stampOf } from '../node/paths.ts'
import type { NodeHandle } from '../node/types.ts'

/** `sha256  path` lines of what this node must have, sorted (the manifest's exact content). */
function manifest(ctx: StepContext, node: NodeHandle): string {
  return ctx.artifacts.flatMap((a) => {
    const remote = remotePathFor(a, node.spec.role)
    return remote ? [`${a.sha256}  ${remote}`] : []
  }).sort().join('\n') + '\n'
}

export const artifactsUpload: Step = {
  id: 'artifacts:upload',
  title: 'Uploading verified binaries',
  on: 'all',
  // etcd and the API server wait for these; workers have until the join token exists.
  controlPlaneFirst: true,
  async check(ctx, node) {
    // The manifest matches and every file is there, executable: no hashing of 300 MB per re-run.
    const want = manifest(ctx, node)
    const paths = want.trim().split('\n').map((l) => l.split('  ')[1]!)
    return node.runner.test`[ "$(cat ${MANIFEST} 2>/dev/null)" = ${want.trimEnd()} ] && for f in ${paths}; do [ -x "$f" ] || exit 1; done`
  },
  async apply(ctx, node) {
    // A binary about to be replaced (an upgrade) invalidates the stamp of the service that runs it
    // (`kubelet` -> kubelet.service, see service.ts), so that service's step restarts it. Done before
    // the upload, so an interrupted run still restarts it next time.
    const want = ctx.artifacts.flatMap((a) => { const r = remotePathFor(a, node.spec.role); return r ? [{ path: r, sha256: a.sha256 }] : [] })
    const replaced = (await differing(node.runner, want)).map((p) => stampOf(`${p.split('/').pop()}.service`))
    if (replaced.length > 0) await node.runner.$`rm -f ${replaced}`
    await uploadAll([{ name: node.spec.name, role: node.spec.role, runner: node.runner }], ctx.artifacts, 4)
    await node.runner.writeFile(MANIFEST, manifest(ctx, node), 0o644)
  },
}
