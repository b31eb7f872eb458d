// remote/hostkeys.ts — pinned SSH host keys, one per node. A HostKeyStore remembers the SHA256
// fingerprint seen on first contact; the Runner refuses a node whose key changed. Two stores: a JSON
// file written atomically (the real one, .kubelab/known_hosts.json by convention) and an in-memory
// one (tests, one-shot tools).

import { createHash } from 'node:crypto'
import { readJsonFile, writeJsonFile } from '../host/files.ts'

export interface HostKeyStore {
  /** The pinned fingerprint (`SHA256:...`) for a node, or undefined on first contact. */
  get(node: string): Promise<string | undefined>
  /** Pins a fingerprint; MUST be durable before it resolves. */
  set(node: string, fingerprint: string): Promise<void>
  /** Forgets a node's key (what `kubelab ssh-reset NODE` does). */
  delete(node: string): Promise<void>
  /** Where the pins live, for error messages (a file path, or a description). */
  readonly location: string
}

/** OpenSSH's fingerprint format: `SHA256:` + unpadded base64 of the sha256 of the key blob. */
export function fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')
}

export class MemoryHostKeyStore implements HostKeyStore {
  readonly location = 'memory'
  private readonly pins = new Map<string, string>()
  async get(node: string) {
    return this.pins.get(node)
  }
  async set(node: string, fp: string) {
    this.pins.set(node, fp)
  }
  async delete(node: string) {
    this.pins.delete(node)
  }
}

interface HostKeyFile {
  version: 1
  hosts: Record<string, { fingerprint: string; added: string }>
}

/** Pins in a JSON file: `{ "version": 1, "hosts": { "worker-1": { "fingerprint": "SHA256:..." } } }`. */
export class JsonFileHostKeyStore implements HostKeyStore {
  // Serialises read-modify-write cycles within this process.
  private chain: Promise<unknown> = Promise.resolve()

  constructor(readonly location: string) {}

  async get(node: string): Promise<string | undefined> {
    return (await this.read()).hosts[node]?.fingerprint
  }

  set(node: string, fp: string): Promise<void> {
    return this.update((f) => {
      f.hosts[node] = { fingerprint: fp, added: new Date().toISOString() }
    })
  }

  delete(node: string): Promise<void> {
    return this.update((f) => {
      delete f.hosts[node]
    })
  }

  private update(change: (f: HostKeyFile) => void): Promise<void> {
    const next = this.chain.then(async () => {
      const f = await this.read()
      change(f)
      writeJsonFile(this.location, f)
    })
    this.chain = next.catch(() => undefined)
    return next
  }

  private async read(): Promise<HostKeyFile> {
    // Damaged pins are an error: an empty store would trust whatever key each node shows next.
    const parsed = readJsonFile<Partial<HostKeyFile>>(this.location, 'the pinned SSH host keys')
    return { version: 1, hosts: parsed?.hosts ?? {} }
  }
}
