// Secrets never reach output: a failed remote write carries the file inline (base64) in its script,
// its stderr may echo a key; the text report and the --json report of that CommandError (alone
// and inside a StepError) hold neither the key nor its base64, and the line redactor -vvv uses
// drops a PEM key spread over lines (the real SshRunner at -vvv: test/integration/redaction.test.ts).
import test from 'ava'
import { CommandError, StepError } from '../../scripts/lib/errors.ts'
import { errorToJson, formatError } from '../../scripts/lib/log/report.ts'
import { lineRedactor, REDACTED } from '../../scripts/lib/logs/redact.ts'
import { generateBootstrapToken } from '../../scripts/lib/pki/bootstrap.ts'
import { generateKeyPair } from '../../scripts/lib/pki/keys.ts'
import { writeFileScript } from '../../scripts/lib/remote/transfer.ts'

/** Every piece of a secret that must not appear: the key's body lines, its base64 form (in 76-column lines too). */
function pieces(secret: string): string[] {
  const b64 = Buffer.from(secret).toString('base64')
  return [...secret.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')), ...b64.match(/.{1,76}/g)!.filter((l) => l.length > 20)]
}

function assertClean(t: { false: (v: boolean, m?: string) => void }, text: string, secrets: readonly string[]) {
  for (const s of secrets) for (const p of pieces(s)) t.false(text.includes(p), `leaked: ${p.slice(0, 30)}...`)
}

test('a failed inline write: text and --json reports hold no key, no base64 of it, no token', async (t) => {
  const { privatePem } = await generateKeyPair()
  const token = generateBootstrapToken()
  const file = `${privatePem}\ntoken: ${token}\n`
  const err = new CommandError({
    node: 'worker-1',
    command: writeFileScript('/etc/kubernetes/pki/apiserver.key', Buffer.from(file), 0o600),
    exitCode: 1,
    signal: null,
    stdout: '',
    stderr: `mv: cannot move: read-only file system\n${privatePem}\nbootstrap token ${token}\n`,
    durationMs: 5,
  })
  const step = new StepError('pki:certs', 'worker-1', err)
  for (const text of [formatError(err), JSON.stringify(errorToJson(err)), formatError(step), JSON.stringify(errorToJson(step))]) {
    assertClean(t, text, [privatePem, file])
    t.false(text.includes(token), 'bootstrap token')
    t.true(text.includes(REDACTED))
  }
  t.regex(JSON.stringify(errorToJson(err)), /<redacted> \(inline file, \d+ base64 characters\)/)
  t.regex(formatError(err), /read-only file system/, 'what went wrong still shows')
})

test('lineRedactor: a PEM key over many lines, a kubeconfig key and a token, line by line', async (t) => {
  const { privatePem } = await generateKeyPair()
  const token = generateBootstrapToken()
  const stream = `before\n${privatePem}\n    client-key-data: ${Buffer.from(privatePem).toString('base64')}\n    token: ${token}\nafter\n`
  const redact = lineRedactor()
  const shown = stream.split('\n').map(redact).filter((l): l is string => l !== undefined).join('\n')
  assertClean(t, shown, [privatePem])
  t.false(shown.includes(token))
  t.regex(shown, /^before\n-----BEGIN PRIVATE KEY----- <redacted>\n-----END PRIVATE KEY-----\n {4}client-key-data: <redacted>\n {4}token: <redacted>\nafter/)
})
