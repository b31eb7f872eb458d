// The nspawn node image: the shared node image plus the machine-container fixups
// (templates/nspawn/*) and units that wait for a console or kernel features a container lacks.

import type { RootfsRecipe } from '../common/rootfs.ts'
import { enableUnit, installImageFiles, NODE_PACKAGES, prepareNodeImage } from '../common/node-image.ts'

export const NSPAWN_IMAGE: RootfsRecipe = {
  name: 'nspawn-node',
  suite: 'bookworm',
  variant: 'minbase',
  include: NODE_PACKAGES,
  revision: 3,
  async customize(root) {
    await prepareNodeImage(root, ['console-getty.service', 'getty@tty1.service', 'systemd-journald-audit.socket', 'systemd-remount-fs.service'])
    await installImageFiles(root, 'nspawn-image')
    await enableUnit(root, '/etc/systemd/system/kubelab-node-fixups.service', 'sysinit.target')
  },
}
