// Secrets never reach output, with the real SshRunner against a throwaway sshd: at -vvv a node
// file holding a private key and a token streams redacted (the command's own result keeps them,
// steps need them); a failed write of a key file gives a CommandError whose text and --json
// reports hold neither the key nor its base64.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { CommandError } from '../../scripts/lib/errors.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import { errorToJson, formatError } from '../../scripts/lib/log/report.ts'
import { generateBootstrapToken } from '../../scripts/lib/pki/bootstrap.ts'
import { generateKeyPair } from '../../scripts/lib/pki/keys.ts'
import { MemoryHostKeyStore, SshRunner } from '../../scripts/lib/remote/index.ts'
import { tempDir } from '../helpers/files.ts'
import { Sshd, sshdUnavailable } from '../helpers/sshd.ts'

const unavailable = sshdUnavailable()
const it = unavailable ? test.skip : test.serial
if (unavailable) test('redaction integration tests', (t) => t.log(`skipped: ${unavailable}`) ?? t.pass())

let sshd: Sshd
test.before(async () => { if (!unavailable) sshd = await Sshd.start() })
test.after.always(async () => { await sshd?.dispose() })

function runner(t: { teardown: (fn: () => void) => void }, sink: string[]): SshRunner {
  const r = new SshRunner({
    node: 'cp',
    target: { host: sshd.host, port: sshd.port, user: 'root', auth: { privateKeyPath: sshd.clientKey, agent: false } },
    hostKeys: new MemoryHostKeyStore(),
    connect: { deadlineMs: 10_000 },
    progress: new Progress({ verbosity: 3, interactive: false, sink: { write: (s: string) => { sink.push(s); return true } } }),
  })
  t.teardown(() => r.close())
  return r
}

const bodyLines = (pem: string) => pem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))
const b64Lines = (s: string) => Buffer.from(s).toString('base64').match(/.{1,76}/g)!.filter((l) => l.length > 20)

it('-vvv streams a node file with a key and a token redacted; the result keeps them', async (t) => {
  const dir = await tempDir(t)
  const { privatePem } = await generateKeyPair()
  const token = generateBootstrapToken()
  const file = path.join(dir, 'bootstrap.conf')
  writeFileSync(file, `users:\n- name: kubelet-bootstrap\n  user:\n    token: ${token}\n${privatePem}`)
  const sink: string[] = []
  const r = await runner(t, sink).run(`cat -- ${file}`)
  t.true(r.stdout.includes(token), 'the caller still gets the content')
  const shown = sink.join('')
  t.regex(shown, /\[cp\] +token: <redacted>/)
  t.regex(shown, /\[cp\] -----BEGIN PRIVATE KEY----- <redacted>/)
  t.false(shown.includes(token))
  for (const l of bodyLines(privatePem)) t.false(shown.includes(l), 'key body line streamed')
})

it('a failed write of a key file: the CommandError reports (text, --json) hold no key and no base64 of it', async (t) => {
  const dir = await tempDir(t)
  const { privatePem } = await generateKeyPair()
  writeFileSync(path.join(dir, 'not-a-dir'), '')
  const sink: string[] = []
  const err = await t.throwsAsync(runner(t, sink).writeFile(path.join(dir, 'not-a-dir', 'apiserver.key'), privatePem, 0o600), { instanceOf: CommandError })
  for (const text of [formatError(err), JSON.stringify(errorToJson(err)), sink.join('')]) {
    for (const l of [...bodyLines(privatePem), ...b64Lines(privatePem)]) t.false(text.includes(l), `leaked: ${l.slice(0, 24)}...`)
  }
  t.regex(JSON.stringify(errorToJson(err)), /inline file, \d+ base64 characters/)
})
