// The nspawn node image: the shared node image plus the machine-container fixups
// (templates/nspawn/*) and units that wait for a console or kernel features a container lacks.

import type { RootfsRecipe } from '../common/rootfs.ts'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { enableUnit, installImageFiles, link, NODE_PACKAGES, prepareNodeImage } from '../common/node-image.ts'

export const NSPAWN_IMAGE: RootfsRecipe = {
  name: 'nspawn-node',
  suite: 'bookworm',
  variant: 'minbase',
  include: NODE_PACKAGES,
  revision: 4,
  async customize(root) {
    await prepareNodeImage(root, ['console-getty.service', 'getty@tty1.service', 'systemd-journald-audit.socket', 'systemd-remount-fs.service'])
    // No generator has work in a machine container (no fstab, no disks, no consoles, no SysV
    // scripts to wrap), and systemd runs all of them at every daemon-reload: 84 -> 31 ms each.
    for (const g of await readdir(path.join(root, 'usr/lib/systemd/system-generators'))) await link('/dev/null', path.join(root, 'etc/systemd/system-generators', g))
    await installImageFiles(root, 'nspawn-image')
    await enableUnit(root, '/etc/systemd/system/kubelab-node-fixups.service', 'sysinit.target')
  },
}
