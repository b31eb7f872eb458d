// The NoCloud seed that configures a cloud image at first boot: an ISO labelled `cidata` with
// user-data (#cloud-config: hostname, the cluster key authorized for root, this VM's pinned host
// key, /etc/hosts), meta-data (instance-id, local-hostname) and network-config (version 2: static
// addresses matched by MAC). The file contents are pure functions (unit-tested); genisoimage packs them.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { stringify } from 'yaml'
import { host } from '../../host/exec.ts'

/** cloud-init reads YAML 1.1 (PyYAML): `52:54:00:12:34:56` unquoted would be a base-60 number there. */
const YAML_11 = { version: '1.1', lineWidth: 0 } as const

/** One NIC as network-config v2 sees it: matched by MAC and renamed, static addresses. */
export interface NicConfig {
  /** Name the NIC gets in the guest (set-name), e.g. eth0. */
  readonly name: string
  readonly mac: string
  /** CIDR addresses, e.g. 10.85.0.11/24. */
  readonly addresses: readonly string[]
  /** Default route through this NIC. */
  readonly gateway?: string
  readonly nameservers?: readonly string[]
}

export interface NocloudSeed {
  /** Changes only when the VM is a new instance (cloud-init runs its once-per-instance work again). */
  readonly instanceId: string
  readonly hostname: string
  /** The cluster's public key, authorized for root (kubelab's login user) and the image's default user. */
  readonly authorizedKey: string
  /** The host key kubelab generated and pinned for this VM (OpenSSH private key text and its .pub line). */
  readonly hostKey: { readonly private: string; readonly public: string }
  /** Every node's name -> address, written to /etc/hosts. */
  readonly hosts: Readonly<Record<string, string>>
  readonly nics: readonly NicConfig[]
}

export function hostsFile(hosts: Readonly<Record<string, string>>): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${Object.entries(hosts).map(([n, a]) => `${a}\t${n}`).join('\n')}\n`
}

export function userData(s: NocloudSeed): string {
  return `#cloud-config\n${stringify({
    hostname: s.hostname,
    preserve_hostname: false,
    manage_etc_hosts: false,
    // kubelab logs in as root with the cluster key (as on every machine it makes).
    disable_root: false,
    ssh_pwauth: false,
    ssh_authorized_keys: [s.authorizedKey.trim()],
    // The host key kubelab pinned, and no other (given ssh_keys, cloud-init generates none):
    // the first SSH connection is already verified.
    ssh_deletekeys: true,
    ssh_keys: { ed25519_private: s.hostKey.private, ed25519_public: s.hostKey.public.trim() },
    write_files: [{ path: '/etc/hosts', permissions: '0644', content: hostsFile(s.hosts) }],
    package_update: false,
    package_upgrade: false,
  }, YAML_11)}`
}

export function metaData(s: NocloudSeed): string {
  return stringify({ 'instance-id': s.instanceId, 'local-hostname': s.hostname }, YAML_11)
}

export function networkConfig(nics: readonly NicConfig[]): string {
  const ethernets = Object.fromEntries(nics.map((n) => [n.name, {
    match: { macaddress: n.mac },
    'set-name': n.name,
    addresses: [...n.addresses],
    // gateway4 rather than a 0.0.0.0/0 route: every renderer cloud-init has (eni, netplan, networkd,
    // sysconfig) turns it into a default route; eni renders routes with net-tools' `route`.
    ...(n.gateway ? { gateway4: n.gateway } : {}),
    ...(n.nameservers?.length ? { nameservers: { addresses: [...n.nameservers] } } : {}),
  }]))
  return stringify({ version: 2, ethernets }, YAML_11)
}

/** The three files of the seed, by their NoCloud names. */
export function seedFiles(s: NocloudSeed): Record<'user-data' | 'meta-data' | 'network-config', string> {
  return { 'user-data': userData(s), 'meta-data': metaData(s), 'network-config': networkConfig(s.nics) }
}

/** Writes the seed files into `dir` and packs them into `iso` (ISO 9660, volume id cidata). */
export async function writeNocloudSeed(dir: string, iso: string, s: NocloudSeed): Promise<void> {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const files = seedFiles(s)
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text, { mode: 0o600 })
  rmSync(iso, { force: true })
  await host`genisoimage -quiet -output ${iso} -volid cidata -joliet -rock ${Object.keys(files).map((f) => path.join(dir, f))}`
}
