// A process that uploads one large file over SSH with kubelab's interrupt handlers installed, for
// test/integration/interrupt.test.ts:  node --import tsx upload-interrupted.ts PORT KEY LOCAL REMOTE
// Prints "uploading" once the upload has started; the test sends SIGINT while it streams.
import { installInterruptHandlers } from '../../scripts/lib/host/interrupt.ts'
import { MemoryHostKeyStore, SshRunner } from '../../scripts/lib/remote/index.ts'
import { sha256File } from '../../scripts/lib/artifacts/cache.ts'

const [port, key, local, remote] = process.argv.slice(2) as [string, string, string, string]
installInterruptHandlers()
const runner = new SshRunner({
  node: 'n',
  target: { host: '127.0.0.1', port: Number(port), user: 'root', auth: { privateKeyPath: key, agent: false } },
  hostKeys: new MemoryHostKeyStore(),
  connect: { deadlineMs: 10_000 },
})
const { sha256 } = await sha256File(local)
process.stdout.write('uploading\n')
await runner.upload(local, remote, sha256)
runner.close()
process.stdout.write('done\n')
