// Certificates as data and their issuance: self-signed CAs (10 years) and leaf certificates
// (1 year) signed by them, with key usage, extended key usage (serverAuth / clientAuth), SANs
// (DNS + IP) and subject (CN, O). `certProblem` says why an existing certificate no longer fits
// its spec (wrong SANs, other issuer, key mismatch, expiring); the store re-issues only then.

import { createHash, randomBytes, X509Certificate as NodeX509 } from 'node:crypto'
import { isIP } from 'node:net'
import { KEY_ALGORITHM, spkiOfPrivateKey, type KeyPair } from './keys.ts'
import { x509 } from './x509.ts'

const DAY_MS = 24 * 60 * 60 * 1000
export const CA_VALIDITY_DAYS = 3650
export const LEAF_VALIDITY_DAYS = 365
/** A certificate with less than this left is issued again (kubeadm warns at 30 days too). */
export const RENEW_BEFORE_DAYS = 30
/** notBefore is set this far in the past, for nodes whose clocks lag the host's a little. */
const BACKDATE_MS = 5 * 60 * 1000

export type CertUsage = 'server' | 'client' | 'server+client'

export interface CaSpec {
  /** File stem in the store, e.g. `ca`, `etcd/ca`, `front-proxy-ca`. */
  readonly name: string
  readonly commonName: string
}

export interface LeafSpec {
  /** File stem in the store (`apiserver`, `etcd/server`) or a kubeconfig's user (`admin`). */
  readonly name: string
  /** Which CA signs it: a CaSpec name. */
  readonly signer: string
  readonly commonName: string
  readonly organizations: readonly string[]
  readonly usage: CertUsage
  readonly dnsNames: readonly string[]
  readonly ipAddresses: readonly string[]
}

/** A certificate with its key, both PEM. `keyPem` is secret. */
export interface Issued {
  readonly certPem: string
  readonly keyPem: string
}

/** A loaded CA that can sign. */
export interface CertificateAuthority {
  readonly spec: CaSpec
  readonly cert: x509.X509Certificate
  readonly certPem: string
  readonly key: KeyPair
}

/** Split a list of SAN inputs into DNS names and IP addresses, deduplicated, order kept. */
export function splitSans(values: readonly string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = []
  const ipAddresses: string[] = []
  for (const v of values) {
    const list = isIP(v) ? ipAddresses : dnsNames
    if (v !== '' && !list.includes(v)) list.push(v)
  }
  return { dnsNames, ipAddresses }
}

function subjectName(commonName: string, organizations: readonly string[]): x509.JsonName {
  // Go's pkix.Name order (what kubeadm writes): O before CN.
  return [...organizations.map((o) => ({ O: [o] })), { CN: [commonName] }]
}

function serialNumber(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x01 // positive and exactly 16 bytes
  return bytes.toString('hex')
}

export async function issueCa(spec: CaSpec, key: KeyPair, now = new Date()): Promise<string> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: subjectName(spec.commonName, []),
    keys: key.keys,
    signingAlgorithm: KEY_ALGORITHM,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
    ],
  })
  return cert.toString('pem') + '\n'
}

function ekus(usage: CertUsage): string[] {
  switch (usage) {
    case 'server': return [x509.ExtendedKeyUsage.serverAuth]
    case 'client': return [x509.ExtendedKeyUsage.clientAuth]
    case 'server+client': return [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
  }
}

function sanList(spec: LeafSpec): x509.JsonGeneralNames {
  return [
    ...spec.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...spec.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ]
}

export async function issueLeaf(spec: LeafSpec, ca: CertificateAuthority, key: KeyPair, now = new Date()): Promise<string> {
  const notAfter = Math.min(now.getTime() + LEAF_VALIDITY_DAYS * DAY_MS, ca.cert.notAfter.getTime())
  const sans = sanList(spec)
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: subjectName(spec.commonName, spec.organizations),
    issuer: ca.cert.subjectName,
    publicKey: key.keys.publicKey,
    signingKey: ca.key.keys.privateKey,
    signingAlgorithm: KEY_ALGORITHM,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // ECDSA keys sign; keyEncipherment is for RSA key transport only (RFC 5480).
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(ekus(spec.usage)),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
    ],
  })
  return cert.toString('pem') + '\n'
}

/** Why an existing CA (cert + key PEM) cannot be kept, or `undefined` when it can. */
export function caProblem(certPem: string, keyPem: string, spec: CaSpec, now = new Date()): string | undefined {
  let cert: x509.X509Certificate
  try {
    cert = new x509.X509Certificate(certPem)
  } catch {
    return 'unreadable certificate'
  }
  const basic = cert.getExtension(x509.BasicConstraintsExtension)
  if (!basic?.ca) return 'not a CA'
  if (cert.subject !== new x509.Name(subjectName(spec.commonName, [])).toString()) return `subject is ${cert.subject}`
  return validityProblem(cert, now) ?? keyProblem(cert, keyPem)
}

function validityProblem(cert: x509.X509Certificate, now: Date): string | undefined {
  if (cert.notBefore.getTime() > now.getTime() + BACKDATE_MS) return 'not valid yet'
  const left = cert.notAfter.getTime() - now.getTime()
  if (left <= 0) return 'expired'
  if (left < RENEW_BEFORE_DAYS * DAY_MS) return `expires in ${Math.floor(left / DAY_MS)} days`
  return undefined
}

function keyProblem(cert: x509.X509Certificate, keyPem: string): string | undefined {
  try {
    return Buffer.from(cert.publicKey.rawData).equals(spkiOfPrivateKey(keyPem)) ? undefined : 'key does not match'
  } catch {
    return 'unreadable key'
  }
}

const sorted = (a: readonly string[]) => [...a].sort().join(', ')

/**
 * Why an existing leaf certificate does not satisfy `spec` (or `undefined` when it does): subject,
 * SANs, usages, issuer and signature, validity, and the key. The reason names no secret.
 */
export async function certProblem(
  certPem: string, keyPem: string, spec: LeafSpec, ca: CertificateAuthority, now = new Date(),
): Promise<string | undefined> {
  let cert: x509.X509Certificate
  try {
    cert = new x509.X509Certificate(certPem)
  } catch {
    return 'unreadable certificate'
  }
  const subject = new x509.Name(subjectName(spec.commonName, spec.organizations)).toString()
  if (cert.subject !== subject) return `subject is ${cert.subject}, want ${subject}`
  const have = (cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? []).map((n) => `${n.type}:${n.value}`)
  const want = sanList(spec).map((n) => `${n.type}:${n.value}`)
  if (sorted(have) !== sorted(want)) return `SANs are [${sorted(have)}], want [${sorted(want)}]`
  const usages = (cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []).map(String)
  if (sorted(usages) !== sorted(ekus(spec.usage))) return `extended key usages differ (want ${spec.usage})`
  if (cert.issuer !== ca.cert.subject) return `issuer is ${cert.issuer}`
  if (!(await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }))) return 'not signed by the current CA'
  return validityProblem(cert, now) ?? keyProblem(cert, keyPem)
}

/**
 * kubeadm's discovery pin for a CA: `sha256:` + hex of SHA-256 over the DER SubjectPublicKeyInfo
 * (what `--discovery-token-ca-cert-hash` and `caCertHashes` take).
 */
export function caCertHash(caCertPem: string): string {
  const spki = new NodeX509(caCertPem).publicKey.export({ type: 'spki', format: 'der' })
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`
}
