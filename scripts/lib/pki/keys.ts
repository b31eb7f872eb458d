// Private keys: ECDSA P-256 (kubeadm's `encryptionAlgorithm: ECDSA-P256`), generated with
// WebCrypto, kept as PKCS#8 PEM ("PRIVATE KEY"); the matching SPKI public key PEM ("PUBLIC KEY").
// Key material stays in these strings and the files of the store: nothing here logs or prints.

import { createPrivateKey, createPublicKey } from 'node:crypto'
import { subtle, x509 } from './x509.ts'

export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const

/** A key pair usable for signing, with its PKCS#8 PEM form (what is written to `*.key`). */
export interface KeyPair {
  readonly keys: CryptoKeyPair
  readonly privatePem: string
}

export async function generateKeyPair(): Promise<KeyPair> {
  const keys = await subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])
  const pkcs8 = await subtle.exportKey('pkcs8', keys.privateKey)
  return { keys, privatePem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') }
}

/**
 * A key pair from a PKCS#8 (or SEC1 "EC PRIVATE KEY") PEM; undefined when the text is not a
 * P-256 key (then the caller makes a new one). Never throws with the key text in the message.
 */
export async function importKeyPair(pem: string): Promise<KeyPair | undefined> {
  try {
    const key = createPrivateKey(pem)
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return undefined
    const pkcs8 = key.export({ type: 'pkcs8', format: 'der' })
    const spki = createPublicKey(key).export({ type: 'spki', format: 'der' })
    const privateKey = await subtle.importKey('pkcs8', pkcs8, KEY_ALGORITHM, true, ['sign'])
    const publicKey = await subtle.importKey('spki', spki, KEY_ALGORITHM, true, ['verify'])
    return { keys: { privateKey, publicKey }, privatePem: pem }
  } catch {
    return undefined
  }
}

/** DER SubjectPublicKeyInfo of a private key's public half (to compare with a certificate's). */
export function spkiOfPrivateKey(pem: string): Buffer {
  return createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' })
}

/** The public key PEM ("PUBLIC KEY", PKIX) of a private key: sa.pub from sa.key. */
export function publicKeyPem(privatePem: string): string {
  return createPublicKey(createPrivateKey(privatePem)).export({ type: 'spki', format: 'pem' }).toString()
}
