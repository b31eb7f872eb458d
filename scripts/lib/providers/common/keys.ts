// The cluster's own SSH key pair, made once per cluster in its state directory; providers that make
// machines authorize its public key on them.

import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
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
