// The cluster's own SSH key pair, made once per cluster in its state directory; providers that make
// machines authorize its public key on them.

import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { MachineError } from '../../errors.ts'
import { host } from '../../host/exec.ts'

export interface ClusterKey {
  privateKeyFile: string
  publicKey: string
}

export async function ensureClusterKey(stateDir: string): Promise<ClusterKey> {
  const dir = path.join(stateDir, 'ssh')
  const privateKeyFile = path.join(dir, 'id_ed25519')
  if (!existsSync(privateKeyFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    await host`ssh-keygen -q -t ed25519 -N ${''} -C ${`kubelab@${path.basename(stateDir)}`} -f ${privateKeyFile}`
  }
  return { privateKeyFile, publicKey: readFileSync(`${privateKeyFile}.pub`, 'utf8').trim() }
}

/** Generates the machine's host key once; returns its SHA256 fingerprint (as ssh-keygen -l prints it). */
export async function ensureHostKey(file: string, name: string): Promise<string> {
  if (!existsSync(file)) await host`ssh-keygen -q -t ed25519 -N ${''} -C ${name} -f ${file}`
  const out = (await host`ssh-keygen -l -f ${`${file}.pub`}`).stdout
  const fp = out.split(' ')[1]
  if (!fp?.startsWith('SHA256:')) throw new MachineError(name, `cannot read the fingerprint of ${file}.pub`)
  return fp
}

/** The public half of a host key file as `type base64` (a known_hosts entry without the name). */
export function hostPublicKey(file: string): string | undefined {
  try {
    return readFileSync(`${file}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')
  } catch {
    return undefined
  }
}
