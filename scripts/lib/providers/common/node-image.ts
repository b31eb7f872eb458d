// What every node image kubelab builds shares: the packages a Kubernetes node needs besides its own
// binaries, sshd settings, units that have nothing to do on a lab node masked, and no identity of
// its own (host keys and machine-id are removed: each machine gets its own at first boot).

import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { renderTemplate } from '../../templates/render.ts'
import { INSTALLED_FILES, type InstalledFile, type InstalledFileName } from '../../templates/table.ts'

export const NODE_PACKAGES = [
  'systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'iputils-ping', 'procps', 'kmod',
  'ca-certificates', 'iptables', 'nftables', 'conntrack', 'socat', 'curl', 'ethtool', 'less',
  // kube-router's firewall (network.policy) runs the ipset command.
  'ipset',
] as const

const MASKED = [
  'systemd-networkd-wait-online.service', 'apt-daily.timer', 'apt-daily-upgrade.timer', 'e2scrub_all.timer',
  'fstrim.timer', 'man-db.timer',
]

/** Installs the image's template files (those whose table entry is `on` one of `kinds`). */
export async function installImageFiles(root: string, ...kinds: InstalledFile['on'][]): Promise<void> {
  for (const name of Object.keys(INSTALLED_FILES) as InstalledFileName[]) {
    const entry: InstalledFile = INSTALLED_FILES[name]
    if (!kinds.includes(entry.on)) continue
    const dest = path.join(root, entry.dest)
    await mkdir(path.dirname(dest), { recursive: true })
    await writeFile(dest, renderTemplate(name, {}))
    await chmod(dest, entry.mode)
  }
}

/** A symlink, replacing what is there (how systemctl enable/mask record their work). */
export async function link(target: string, at: string): Promise<void> {
  await mkdir(path.dirname(at), { recursive: true })
  await rm(at, { force: true })
  await symlink(target, at)
}

export const enableUnit = (root: string, unitPath: string, target: string) =>
  link(unitPath, path.join(root, 'etc/systemd/system', `${target}.wants`, path.basename(unitPath)))

export const maskUnit = (root: string, unit: string) => link('/dev/null', path.join(root, 'etc/systemd/system', unit))

/** The customisation every node image shares. */
export async function prepareNodeImage(root: string, extraMasked: readonly string[] = []): Promise<void> {
  await installImageFiles(root, 'node-image')
  await enableUnit(root, '/lib/systemd/system/ssh.service', 'multi-user.target')
  for (const unit of [...MASKED, ...extraMasked]) await maskUnit(root, unit)
  await writeFile(path.join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n')
  await writeFile(path.join(root, 'etc/machine-id'), '')
  await rm(path.join(root, 'var/lib/dbus/machine-id'), { force: true })
  for (const key of ['ecdsa', 'ed25519', 'rsa']) {
    await rm(path.join(root, `etc/ssh/ssh_host_${key}_key`), { force: true })
    await rm(path.join(root, `etc/ssh/ssh_host_${key}_key.pub`), { force: true })
  }
  await mkdir(path.join(root, 'root/.ssh'), { recursive: true, mode: 0o700 })
  await rm(path.join(root, 'var/cache/apt/archives'), { recursive: true, force: true })
  await mkdir(path.join(root, 'var/cache/apt/archives/partial'), { recursive: true })
}
