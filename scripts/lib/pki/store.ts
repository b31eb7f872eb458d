// The PKI store: a folder in the cluster's state (<stateDir>/pki) holding every credential a
// node needs, files named as installed. `ensurePki` makes what is missing, keeps what still fits
// (CAs, keys, the SA key, the encryption key, an unexpired token), re-issues only certificates
// whose inputs changed, and writes only files whose bytes differ (atomically, keys 0600). It
// returns a manifest (install path, mode, sha256 per file) for the converge step to upload.
// `describe()` lists files without contents: secrets are never printed.

import { createHash } from 'node:crypto'
import { chmod, mkdir, readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { writeFileAtomic } from '../host/files.ts'
import type { ClusterConfig, NodeSpec } from '../config/types.ts'
import {
  bootstrapRbac, bootstrapTokenSecret, DEFAULT_TOKEN_TTL_HOURS, generateBootstrapToken,
  parseBootstrapToken, parseBootstrapTokenSecret,
} from './bootstrap.ts'
import {
  caCertHash, caProblem, certProblem, issueCa, issueLeaf, RENEW_BEFORE_DAYS, type CaSpec, type CertificateAuthority, type LeafSpec,
} from './certs.ts'
import { CLUSTER_CA, controlPlanePki, type ControlPlanePki, type PkiOptions } from './control-plane.ts'
import { encryptionConfig, generateEncryptionKey, parseEncryptionKey } from './encryption.ts'
import { generateKeyPair, importKeyPair, publicKeyPem } from './keys.ts'
import { kubeconfig, parseKubeconfig } from './kubeconfig.ts'
import { x509 } from './x509.ts'

/** Which nodes get a file: the control plane only, or every node (kubelet, kube-proxy, CA). */
export type PkiTarget = 'control-plane' | 'all'

export interface PkiFileInfo {
  /** Path inside the store, e.g. `etcd/server.crt`. */
  readonly file: string
  /** Absolute path on the node. */
  readonly installPath: string
  readonly mode: number
  readonly nodes: PkiTarget
  /** Holds a private key, token or encryption key. */
  readonly secret: boolean
}

export interface PkiManifestEntry extends PkiFileInfo {
  readonly sha256: string
}

export interface EnsurePkiOptions extends PkiOptions {
  /** Use this bootstrap token (e.g. from the environment) instead of keeping or generating one. */
  readonly bootstrapToken?: string
  readonly tokenTtlHours?: number
  /** The clock (tests). */
  readonly now?: Date
}

export interface PkiResult {
  readonly manifest: readonly PkiManifestEntry[]
  /** Files written by this call, with why; empty on a re-run with the same inputs. */
  readonly changed: readonly { readonly file: string; readonly reason: string }[]
  /** `sha256:<hex>` of the cluster CA, for join discovery pins. */
  readonly caCertHash: string
  /** The bootstrap token's public id (the secret half is never returned). */
  readonly tokenId: string
}

const PKI_DIR = '/etc/kubernetes/pki'

/** Where each store file is installed. Certificates and keys follow kubeadm's layout. */
export function pkiFileInfo(file: string): PkiFileInfo | undefined {
  const info = (installPath: string, mode: number, nodes: PkiTarget, secret: boolean): PkiFileInfo =>
    ({ file, installPath, mode, nodes, secret })
  switch (file) {
    case 'ca.crt': return info(`${PKI_DIR}/ca.crt`, 0o644, 'all', false)
    case 'sa.key': return info(`${PKI_DIR}/sa.key`, 0o600, 'control-plane', true)
    case 'sa.pub': return info(`${PKI_DIR}/sa.pub`, 0o644, 'control-plane', false)
    case 'admin.conf':
    case 'controller-manager.conf':
    case 'scheduler.conf': return info(`/etc/kubernetes/${file}`, 0o600, 'control-plane', true)
    case 'kube-proxy.conf': return info('/var/lib/kube-proxy/kubeconfig', 0o600, 'all', true)
    case 'bootstrap-kubeconfig': return info('/var/lib/kubelet/bootstrap-kubeconfig', 0o600, 'all', true)
    case 'encryption-config.yaml': return info('/etc/kubernetes/encryption-config.yaml', 0o600, 'control-plane', true)
    case 'bootstrap-token.yaml': return info('/etc/kubernetes/kubelab/bootstrap-token.yaml', 0o600, 'control-plane', true)
    case 'bootstrap-rbac.yaml': return info('/etc/kubernetes/kubelab/bootstrap-rbac.yaml', 0o644, 'control-plane', false)
  }
  if (/^kube-router\/[^/]+\.conf$/.test(file)) return info('/var/lib/kube-router/kubeconfig', 0o600, 'all', true)
  if (file.endsWith('.crt')) return info(`${PKI_DIR}/${file}`, 0o644, 'control-plane', false)
  if (file.endsWith('.key')) return info(`${PKI_DIR}/${file}`, 0o600, 'control-plane', true)
  return undefined
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

export class PkiStore {
  constructor(readonly dir: string) {}

  async read(file: string): Promise<string | undefined> {
    try {
      return await readFile(path.join(this.dir, file), 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw e
    }
  }

  /**
   * Write `content` to `file` only if the bytes differ (host/files.ts: temp file, fsync, rename,
   * mode set before the rename); otherwise only fix the mode. Returns whether the content was written.
   */
  async put(file: string, content: string, mode: number): Promise<boolean> {
    const target = path.join(this.dir, file)
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 })
    if ((await this.read(file)) === content) {
      if (((await stat(target)).mode & 0o777) !== mode) await chmod(target, mode)
      return false
    }
    writeFileAtomic(target, content, { mode })
    return true
  }

  /** Every store file present, with install path, mode and sha256 (read from disk). */
  async manifest(files: readonly string[]): Promise<PkiManifestEntry[]> {
    const out: PkiManifestEntry[] = []
    for (const file of files) {
      const content = await this.read(file)
      const info = pkiFileInfo(file)
      if (content !== undefined && info) out.push({ ...info, sha256: sha256(content) })
    }
    return out
  }

  /** Every file in the store (relative paths, sorted), leftover temp files aside. */
  async files(): Promise<string[]> {
    const walk = async (rel: string): Promise<string[]> => {
      let entries
      try {
        entries = await readdir(path.join(this.dir, rel), { withFileTypes: true })
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
        throw e
      }
      const out: string[] = []
      for (const e of entries) {
        const f = rel ? `${rel}/${e.name}` : e.name
        if (e.isDirectory()) out.push(...await walk(f))
        else if (!e.name.includes('.tmp-') && !e.name.startsWith('.')) out.push(f)
      }
      return out
    }
    return (await walk('')).sort()
  }

  /**
   * One line per file: store path, install path, mode, sha256 prefix, and for certificates the
   * subject and expiry. Never any content: keys, tokens and kubeconfigs show as `secret`.
   */
  async describe(): Promise<string> {
    const lines: string[] = []
    for (const file of await this.files()) {
      const info = pkiFileInfo(file)
      const content = (await this.read(file)) ?? ''
      let what = info?.secret ? 'secret' : ''
      if (file.endsWith('.crt')) {
        try {
          const cert = new x509.X509Certificate(content)
          what = `${cert.subject}, until ${cert.notAfter.toISOString().slice(0, 10)}`
        } catch {
          what = 'unreadable certificate'
        }
      }
      const mode = info ? info.mode.toString(8).padStart(4, '0') : '----'
      lines.push(`${file.padEnd(30)} -> ${(info?.installPath ?? '(not part of the PKI set)').padEnd(46)} ${mode}  sha256:${sha256(content).slice(0, 12)}  ${what}`.trimEnd())
    }
    return lines.join('\n')
  }
}

/** Every file ensurePki writes for a control-plane set, in manifest order. */
export function storeFiles(pki: ControlPlanePki): string[] {
  return [
    ...pki.cas.flatMap((c) => [`${c.name}.crt`, `${c.name}.key`]),
    ...pki.certs.flatMap((c) => [`${c.name}.crt`, `${c.name}.key`]),
    'sa.key', 'sa.pub',
    ...pki.kubeconfigs.map((k) => k.file),
    'bootstrap-kubeconfig', 'bootstrap-token.yaml', 'bootstrap-rbac.yaml', 'encryption-config.yaml',
  ]
}

/** The store's record of its last full check (a dot file: never installed, listed or described). */
const VERIFIED = '.verified.json'
const DAY_MS = 24 * 3600_000

async function readVerified(store: PkiStore): Promise<{ digest: string; renewBy: string } | undefined> {
  try {
    const v = JSON.parse((await store.read(VERIFIED)) ?? '') as { digest?: unknown; renewBy?: unknown }
    return typeof v.digest === 'string' && typeof v.renewBy === 'string' ? { digest: v.digest, renewBy: v.renewBy } : undefined
  } catch {
    return undefined
  }
}

/** sha256 over the specs and the bytes of every CA, certificate, key, kubeconfig and key file the checks read. */
async function credentialsDigest(store: PkiStore, pki: ControlPlanePki): Promise<string> {
  const h = createHash('sha256').update(`checks v1\0${JSON.stringify(pki)}`)
  const files = [...pki.cas, ...pki.certs].flatMap((c) => [`${c.name}.crt`, `${c.name}.key`])
  for (const f of [...files, ...pki.kubeconfigs.map((k) => k.file), 'sa.key', 'sa.pub', 'encryption-config.yaml']) {
    h.update(`\0${f}\0${(await store.read(f)) ?? '(missing)'}`)
  }
  return h.digest('hex')
}

/** A CA kept from the store or made anew. */
async function ensureCa(store: PkiStore, spec: CaSpec, now: Date, changes: Map<string, string>): Promise<CertificateAuthority> {
  const certPem = await store.read(`${spec.name}.crt`)
  const keyPem = await store.read(`${spec.name}.key`)
  if (certPem !== undefined && keyPem !== undefined && caProblem(certPem, keyPem, spec, now) === undefined) {
    const key = await importKeyPair(keyPem)
    if (key) return { spec, cert: new x509.X509Certificate(certPem), certPem, key }
  }
  const reason = certPem === undefined || keyPem === undefined ? 'created' : `replaced: ${caProblem(certPem, keyPem, spec, now)}`
  const key = await generateKeyPair()
  const newCert = await issueCa(spec, key, now)
  changes.set(`${spec.name}.crt`, reason).set(`${spec.name}.key`, reason)
  await store.put(`${spec.name}.key`, key.privatePem, 0o600)
  await store.put(`${spec.name}.crt`, newCert, 0o644)
  return { spec, cert: new x509.X509Certificate(newCert), certPem: newCert, key }
}

/** A leaf kept when it still fits, else issued again (with the existing key when there is one). */
async function ensureLeaf(
  spec: LeafSpec, ca: CertificateAuthority, existing: { certPem?: string; keyPem?: string }, now: Date,
): Promise<{ certPem: string; keyPem: string; reason?: string }> {
  const { certPem, keyPem } = existing
  const key = keyPem !== undefined ? await importKeyPair(keyPem) : undefined
  if (certPem !== undefined && key) {
    const problem = await certProblem(certPem, key.privatePem, spec, ca, now)
    if (problem === undefined) return { certPem, keyPem: key.privatePem }
    return { certPem: await issueLeaf(spec, ca, key, now), keyPem: key.privatePem, reason: `re-issued: ${problem}` }
  }
  const fresh = key ?? await generateKeyPair()
  return { certPem: await issueLeaf(spec, ca, fresh, now), keyPem: fresh.privatePem, reason: 'created' }
}

/**
 * Make the store at `dir` hold the control-plane PKI for (config, cp). Idempotent: the same
 * inputs a second time write nothing. A changed input (e.g. the control-plane address) re-issues
 * only the certificates that carry it; CAs, keys, the SA key and the encryption key are kept.
 */
export async function ensurePki(
  dir: string, config: ClusterConfig, cp: NodeSpec, options: EnsurePkiOptions = {},
): Promise<PkiResult> {
  const now = options.now ?? new Date()
  const store = new PkiStore(dir)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const pki = controlPlanePki(config, cp, options)
  const changes = new Map<string, string>()
  const note = (file: string, written: boolean, reason: string) => { if (written && !changes.has(file)) changes.set(file, reason) }

  const clusterName = config.name
  // The checks below parse every key and certificate; a store already checked for these inputs,
  // byte for byte, with nothing near renewal, is taken as it is (the stamp in VERIFIED).
  const stamp = await readVerified(store)
  const digest = await credentialsDigest(store, pki)
  let clusterCaPem: string
  if (stamp?.digest === digest && now.getTime() < Date.parse(stamp.renewBy)) {
    clusterCaPem = (await store.read(`${CLUSTER_CA.name}.crt`))!
  } else {
    const expiries: Date[] = []
    const cas = new Map<string, CertificateAuthority>()
    for (const spec of pki.cas) {
      const ca = await ensureCa(store, spec, now, changes)
      cas.set(spec.name, ca)
      expiries.push(ca.cert.notAfter)
    }
    const caOf = (spec: LeafSpec) => cas.get(spec.signer)!
    clusterCaPem = cas.get(CLUSTER_CA.name)!.certPem

    for (const spec of pki.certs) {
      const got = await ensureLeaf(spec, caOf(spec), {
        certPem: await store.read(`${spec.name}.crt`), keyPem: await store.read(`${spec.name}.key`),
      }, now)
      note(`${spec.name}.key`, await store.put(`${spec.name}.key`, got.keyPem, 0o600), got.reason ?? 'rewritten')
      note(`${spec.name}.crt`, await store.put(`${spec.name}.crt`, got.certPem, 0o644), got.reason ?? 'rewritten')
      expiries.push(new x509.X509Certificate(got.certPem).notAfter)
    }

    for (const k of pki.kubeconfigs) {
      const old = parseKubeconfig((await store.read(k.file)) ?? '')
      const got = await ensureLeaf(k.user, caOf(k.user), { certPem: old?.certPem, keyPem: old?.keyPem }, now)
      const text = kubeconfig({ clusterName, server: k.server, caPem: caOf(k.user).certPem }, k.user.commonName, got)
      note(k.file, await store.put(k.file, text, 0o600), got.reason ?? 'server or CA changed')
      expiries.push(new x509.X509Certificate(got.certPem).notAfter)
    }

    // Service-account signing key: kept forever once made (rotating it invalidates every SA token).
    const oldSa = await store.read('sa.key')
    const saKey = (oldSa !== undefined ? await importKeyPair(oldSa) : undefined) ?? await generateKeyPair()
    note('sa.key', await store.put('sa.key', saKey.privatePem, 0o600), 'created')
    note('sa.pub', await store.put('sa.pub', publicKeyPem(saKey.privatePem), 0o644), 'created')

    // Encryption key: kept forever once made (losing it loses every Secret).
    const oldEnc = await store.read('encryption-config.yaml')
    const encKey = (oldEnc !== undefined ? parseEncryptionKey(oldEnc) : undefined) ?? generateEncryptionKey()
    note('encryption-config.yaml', await store.put('encryption-config.yaml', encryptionConfig(encKey), 0o600), 'created')

    const first = Math.min(...expiries.map((d) => d.getTime()))
    await store.put(VERIFIED, `${JSON.stringify({ digest: await credentialsDigest(store, pki), renewBy: new Date(first - RENEW_BEFORE_DAYS * DAY_MS).toISOString() })}\n`, 0o600)
  }

  // Bootstrap token: an explicit one wins; else keep the stored one while it has an hour left.
  const ttlMs = (options.tokenTtlHours ?? DEFAULT_TOKEN_TTL_HOURS) * 3600_000
  const oldToken = parseBootstrapTokenSecret((await store.read('bootstrap-token.yaml')) ?? '')
  let token: { token: string; expiration: Date }
  if (options.bootstrapToken !== undefined) {
    if (!parseBootstrapToken(options.bootstrapToken)) throw new TypeError('bootstrap token does not match [a-z0-9]{6}.[a-z0-9]{16}')
    token = oldToken?.token === options.bootstrapToken && oldToken.expiration.getTime() - now.getTime() > 3600_000
      ? oldToken
      : { token: options.bootstrapToken, expiration: new Date(now.getTime() + ttlMs) }
  } else if (oldToken && oldToken.expiration.getTime() - now.getTime() > 3600_000) {
    token = oldToken
  } else {
    token = { token: generateBootstrapToken(), expiration: new Date(now.getTime() + ttlMs) }
  }
  const tokenReason = oldToken ? 'token replaced' : 'created'
  note('bootstrap-token.yaml', await store.put('bootstrap-token.yaml', bootstrapTokenSecret(token.token, token.expiration), 0o600), tokenReason)
  note('bootstrap-kubeconfig', await store.put('bootstrap-kubeconfig',
    kubeconfig({ clusterName, server: pki.nodeServer, caPem: clusterCaPem }, 'kubelet-bootstrap', { token: token.token }), 0o600), tokenReason)
  note('bootstrap-rbac.yaml', await store.put('bootstrap-rbac.yaml', bootstrapRbac(), 0o644), 'created')

  return {
    manifest: await store.manifest(storeFiles(pki)),
    changed: [...changes].map(([file, reason]) => ({ file, reason })),
    caCertHash: caCertHash(clusterCaPem),
    tokenId: parseBootstrapToken(token.token)!.id,
  }
}
