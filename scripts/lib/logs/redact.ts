// Secrets out of text before it leaves kubelab: PEM private keys, kubeconfig key data and tokens,
// bootstrap tokens (Secret fields and bare `abcdef.0123456789abcdef` anywhere), the
// EncryptionConfiguration's key secrets, `--token`/`--password`-style flags, and files a remote
// script carries inline as base64 heredocs. Values become `<redacted>`; keys and structure stay so
// the text still reads. Applied to every logs bundle file, to every CommandError (so the text and
// --json reports of any failed command), and line by line to the output -vvv streams.

export const REDACTED = '<redacted>'

/** YAML/JSON keys whose value is a secret (matched case-insensitively, quoted or not). */
const SECRET_KEYS = [
  'client-key-data', 'token', 'token-secret', 'secret', 'password', 'id-token', 'refresh-token',
  'access-token', 'auth', 'key-data', 'privateKey', 'private-key', 'tls.key', 'identitytoken',
]

const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g
/** A bootstrap token: 6 + 16 lowercase alphanumerics around a dot, not inside a longer word or name. */
const BOOTSTRAP_TOKEN = /(?<![A-Za-z0-9._-])[a-z0-9]{6}\.[a-z0-9]{16}(?![A-Za-z0-9_-]|\.[A-Za-z0-9])/g
/** `key: value`, `"key": "value"` or `key = "value"` (YAML, JSON, TOML) for the keys above. */
const KEY_VALUE = new RegExp(
  `((?:^|[\\s{,\\[])["']?(?:${SECRET_KEYS.map((k) => k.replace(/[-.]/g, (c) => `\\${c}`)).join('|')})["']?\\s*[:=][ \\t]*)(?!\\s*$)("[^"\\n]*"|'[^'\\n]*'|[^\\s,}\\]#][^,}\\]\\n]*)`,
  'gim',
)
/** `--token=X`, `--token X`, `--password=X`, `Authorization: Bearer X`. */
const FLAG = /(--(?:token|password|bootstrap-token|client-key-data)(?:=|\s+))(\S+)/g
const BEARER = /(\bBearer\s+)([A-Za-z0-9._~+/=-]{8,})/g
/** The password of a URL's user info (a proxy URL in the egress drop-in): `http://user:PASS@host`. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"']+:)([^\s@/"']+)(@)/gi

/** A quoted-delimiter heredoc of base64 lines (remote/transfer.ts writes small files this way). */
const INLINE_BASE64 = /(<<'([A-Za-z0-9_]+)'\n)([A-Za-z0-9+/=\n]*?)^(\2)$/gm

export function redactSecrets(text: string): string {
  return text
    .replace(INLINE_BASE64, (_m, head: string, _delim: string, body: string, tail: string) => `${head}${REDACTED} (inline file, ${body.replace(/\n/g, '').length} base64 characters)\n${tail}`)
    .replace(PEM_PRIVATE_KEY, (_m, kind: string) => `-----BEGIN ${kind}PRIVATE KEY-----\n${REDACTED}\n-----END ${kind}PRIVATE KEY-----`)
    .replace(KEY_VALUE, (_m, head: string, value: string) => {
      const q = value[0] === '"' || value[0] === "'" ? value[0] : ''
      return `${head}${q}${REDACTED}${q}`
    })
    .replace(FLAG, (_m, head: string) => `${head}${REDACTED}`)
    .replace(BEARER, (_m, head: string) => `${head}${REDACTED}`)
    .replace(URL_PASSWORD, (_m, head: string, _pw: string, at: string) => `${head}${REDACTED}${at}`)
    .replace(BOOTSTRAP_TOKEN, REDACTED)
}

const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----/
const PEM_END = /-----END ([A-Z0-9 ]*)PRIVATE KEY-----/

/**
 * redactSecrets for a stream read line by line (-vvv): a PEM private key spans lines, so its body
 * is dropped from the BEGIN line to the END line. Returns undefined for a line to leave out.
 */
export function lineRedactor(): (line: string) => string | undefined {
  let inKey = false
  return (line) => {
    if (inKey) {
      if (!PEM_END.test(line)) return undefined
      inKey = false
      return line.replace(/^.*?(-----END )/, '$1')
    }
    if (PEM_BEGIN.test(line) && !PEM_END.test(line)) {
      inKey = true
      return `${line.replace(/(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----).*$/, '$1')} ${REDACTED}`
    }
    return redactSecrets(line)
  }
}
