// The QEMU node image: the shared node image plus a kernel (linux-image-cloud), an fstab for the
// virtio root, and the per-VM seed unit; then turned into a qcow2 base disk with the kernel and
// initrd beside it, cached by the recipe hash. Each VM gets a copy-on-write overlay of it.

import { existsSync, readdirSync } from 'node:fs'
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { host } from '../../host/exec.ts'
import type { Progress } from '../../log/progress.ts'
import { withFileLock } from '../common/lock.ts'
import { enableUnit, installImageFiles, NODE_PACKAGES, prepareNodeImage } from '../common/node-image.ts'
import { ensureRootfs, recipeHash, type RootfsRecipe } from '../common/rootfs.ts'

export const QEMU_IMAGE: RootfsRecipe = {
  name: 'qemu-node',
  suite: 'bookworm',
  variant: 'minbase',
  include: [...NODE_PACKAGES, 'linux-image-cloud-amd64', 'initramfs-tools', 'udev', 'e2fsprogs'],
  revision: 2,
  async customize(root) {
    await prepareNodeImage(root)
    await installImageFiles(root, 'qemu-image')
    await enableUnit(root, '/etc/systemd/system/kubelab-seed.service', 'sysinit.target')
    await writeFile(path.join(root, 'etc/fstab'), '/dev/vda / ext4 rw,discard,errors=remount-ro 0 1\n')
  },
}

export interface QemuDisk {
  /** qcow2 base disk; VMs use overlays backed by it. */
  base: string
  kernel: string
  initrd: string
}

/** Size of the root filesystem (sparse: costs only what is used). */
const ROOT_SIZE = '8G'

export function diskPaths(cacheDir: string): QemuDisk & { dir: string } {
  const dir = path.join(cacheDir, 'images', `${QEMU_IMAGE.name}-${QEMU_IMAGE.suite}-${recipeHash(QEMU_IMAGE)}-disk`)
  return { dir, base: path.join(dir, 'base.qcow2'), kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img') }
}

/** The cached base disk, built (debootstrap, mkfs.ext4 -d, qemu-img convert) when missing. */
export async function ensureQemuDisk(cacheDir: string, options: { mirror?: string; progress: Progress }): Promise<QemuDisk> {
  const d = diskPaths(cacheDir)
  if (existsSync(d.base)) return d
  const rootfs = await ensureRootfs(QEMU_IMAGE, { cacheDir: path.join(cacheDir, 'images'), ...options })
  return withFileLock(`${d.dir}.lock`, { wait: true, what: `building ${path.basename(d.dir)}` }, async () => {
    if (existsSync(d.base)) return d
    const tmp = `${d.dir}.partial`
    await rm(tmp, { recursive: true, force: true })
    await mkdir(tmp, { recursive: true })
    await options.progress.step('Building the QEMU base disk (once)', async () => {
      const boot = readdirSync(path.join(rootfs, 'boot'))
      const kernel = boot.find((f) => f.startsWith('vmlinuz-'))
      const initrd = boot.find((f) => f.startsWith('initrd.img-'))
      if (!kernel || !initrd) throw new Error(`no kernel or initrd in ${path.join(rootfs, 'boot')}`)
      await copyFile(path.join(rootfs, 'boot', kernel), path.join(tmp, 'vmlinuz'))
      await copyFile(path.join(rootfs, 'boot', initrd), path.join(tmp, 'initrd.img'))
      const raw = path.join(tmp, 'root.raw')
      await host`mkfs.ext4 -q -F -L kubelab-root -d ${rootfs} ${raw} ${ROOT_SIZE}`
      await host`qemu-img convert -O qcow2 ${raw} ${path.join(tmp, 'base.qcow2')}`
      await rm(raw, { force: true })
    })
    await rm(d.dir, { recursive: true, force: true })
    await rename(tmp, d.dir)
    return d
  })
}
