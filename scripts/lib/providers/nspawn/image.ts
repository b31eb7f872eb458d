// The nspawn node image: a minimal Debian with systemd and sshd, plus the machine-container fixups
// (templates/nspawn/*). Host keys and machine-id are removed from the image: each node gets its own.

import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { RootfsRecipe } from '../common/rootfs.ts'
import { renderTemplate } from '../../templates/render.ts'
import { INSTALLED_FILES, type InstalledFileName } from '../../templates/table.ts'

/** Debian packages of every node; what Kubernetes needs besides its own binaries. */
const PACKAGES = [
  'systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'iputils-ping', 'procps', 'kmod',
  'ca-certificates', 'iptables', 'nftables', 'conntrack', 'socat', 'curl', 'ethtool', 'less',
]

/** Units that have nothing to do in a machine container, or wait for things that never come. */
const MASKED = [
  'console-getty.service', 'getty@tty1.service', 'systemd-networkd-wait-online.service',
  'apt-daily.timer', 'apt-daily-upgrade.timer', 'e2scrub_all.timer', 'fstrim.timer',
  'systemd-journald-audit.socket', 'systemd-remount-fs.service',
]

async function install(root: string, name: InstalledFileName): Promise<void> {
  const entry = INSTALLED_FILES[name]
  const dest = path.join(root, entry.dest)
  await mkdir(path.dirname(dest), { recursive: true })
  await writeFile(dest, renderTemplate(name, {}))
  await chmod(dest, entry.mode)
}

async function link(target: string, at: string): Promise<void> {
  await mkdir(path.dirname(at), { recursive: true })
  await rm(at, { force: true })
  await symlink(target, at)
}

export const NSPAWN_IMAGE: RootfsRecipe = {
  name: 'nspawn-node',
  suite: 'bookworm',
  variant: 'minbase',
  include: PACKAGES,
  revision: 1,
  async customize(root) {
    for (const name of Object.keys(INSTALLED_FILES) as InstalledFileName[]) {
      if (INSTALLED_FILES[name].on === 'nspawn-image') await install(root, name)
    }
    const etc = path.join(root, 'etc/systemd/system')
    await link('/etc/systemd/system/kubelab-node-fixups.service', path.join(etc, 'sysinit.target.wants/kubelab-node-fixups.service'))
    await link('/lib/systemd/system/ssh.service', path.join(etc, 'multi-user.target.wants/ssh.service'))
    for (const unit of MASKED) await link('/dev/null', path.join(etc, unit))
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
  },
}
