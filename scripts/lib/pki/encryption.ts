// Secrets encryption at rest: the apiserver's EncryptionConfiguration (aescbc `key1`, 32 random
// bytes base64, over `secrets`, then identity so existing plain data stays readable). The key is
// a secret and must survive re-runs: losing it makes every stored Secret unreadable.

import { randomBytes } from 'node:crypto'
import { parse, stringify } from 'yaml'

export const ENCRYPTION_KEY_NAME = 'key1'

export function generateEncryptionKey(): Buffer {
  return randomBytes(32)
}

export function encryptionConfig(key: Buffer): string {
  if (key.length !== 32) throw new RangeError('aescbc key must be 32 bytes')
  return stringify({
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'EncryptionConfiguration',
    resources: [{
      resources: ['secrets'],
      providers: [
        { aescbc: { keys: [{ name: ENCRYPTION_KEY_NAME, secret: key.toString('base64') }] } },
        { identity: {} },
      ],
    }],
  }, { lineWidth: 0 })
}

/** The aescbc `key1` of an existing config when it is 32 bytes; undefined otherwise. */
export function parseEncryptionKey(text: string): Buffer | undefined {
  try {
    const doc = parse(text) as any
    if (doc?.kind !== 'EncryptionConfiguration') return undefined
    for (const r of doc.resources ?? []) {
      for (const p of r.providers ?? []) {
        const k = (p?.aescbc?.keys ?? []).find((x: any) => x?.name === ENCRYPTION_KEY_NAME)
        if (typeof k?.secret === 'string') {
          const key = Buffer.from(k.secret, 'base64')
          if (key.length === 32) return key
        }
      }
    }
    return undefined
  } catch {
    return undefined
  }
}
