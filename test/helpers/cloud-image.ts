// A bootable "cloud image" for tests, built locally because nothing can be downloaded: Debian
// (debootstrap from the host's apt sources, through kubelab's own rootfs cache) with cloud-init,
// openssh-server and a kernel, on a BIOS-bootable MBR disk (GRUB), as qcow2. No loop devices, no
// mounts: the partition table is written by hand, the ext4 partition by `mkfs.ext4 -d` at an offset,
// GRUB's boot.img goes into the MBR and a core.img made by grub-mkimage (in the image's chroot)
// into the gap before the partition, as grub-install would. Cached by recipe in
// ~/.cache/kubelab/images/cloud-test-*-disk, so a warm run costs nothing.

import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { host } from '../../scripts/lib/host/exec.ts'
import type { Progress } from '../../scripts/lib/log/progress.ts'
import { sha256File } from '../../scripts/lib/artifacts/cache.ts'
import { withFileLock } from '../../scripts/lib/providers/common/lock.ts'
import { ensureRootfs, recipeHash, type RootfsRecipe } from '../../scripts/lib/providers/common/rootfs.ts'

const LABEL = 'cloudimg-rootfs'
const SECTOR = 512
/** The partition starts at 1 MiB, like every partitioning tool does; GRUB's core.img lives before it. */
const PART_START = 2048
const ROOT_SIZE_MIB = 2048

export const CLOUD_TEST_IMAGE: RootfsRecipe = {
  name: 'cloud-test',
  suite: 'bookworm',
  variant: 'minbase',
  include: [
    'systemd', 'systemd-sysv', 'dbus', 'udev', 'openssh-server', 'cloud-init', 'cloud-guest-utils', 'fdisk',
    'ifupdown', 'iproute2', 'iputils-ping', 'procps', 'e2fsprogs', 'linux-image-cloud-amd64', 'initramfs-tools', 'grub-pc-bin',
    // debootstrap does not resolve virtual packages: python3-cryptography's cffi API is this one.
    'python3-cffi-backend',
  ],
  revision: 2,
  async customize(root) {
    // No `locales` in this small image: cloud-init's locale module would fail (real images have it).
    await writeFile(path.join(root, 'etc/cloud/cloud.cfg.d/90-kubelab-test.cfg'), 'locale: false\n')
    // What an official cloud image ships: no identity, cloud-init decides keys, users and network.
    await writeFile(path.join(root, 'etc/machine-id'), '')
    await rm(path.join(root, 'var/lib/dbus/machine-id'), { force: true })
    for (const f of readdirSync(path.join(root, 'etc/ssh')).filter((f) => f.startsWith('ssh_host_'))) await rm(path.join(root, 'etc/ssh', f))
    await writeFile(path.join(root, 'etc/fstab'), `LABEL=${LABEL} / ext4 rw,discard,errors=remount-ro 0 1\n`)
    await writeFile(path.join(root, 'etc/hostname'), 'localhost\n')
    await writeFile(path.join(root, 'etc/network/interfaces'), 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n')
    const boot = readdirSync(path.join(root, 'boot'))
    const kernel = boot.find((f) => f.startsWith('vmlinuz-'))
    const initrd = boot.find((f) => f.startsWith('initrd.img-'))
    if (!kernel || !initrd) throw new Error(`no kernel or initrd in ${path.join(root, 'boot')}`)
    await mkdir(path.join(root, 'boot/grub'), { recursive: true })
    await writeFile(path.join(root, 'boot/grub/grub.cfg'), [
      'set timeout=0', 'serial --unit=0 --speed=115200', 'terminal_output serial console',
      `linux /boot/${kernel} root=LABEL=${LABEL} ro console=tty0 console=ttyS0,115200`, `initrd /boot/${initrd}`, 'boot', '',
    ].join('\n'))
    await rm(path.join(root, 'var/cache/apt/archives'), { recursive: true, force: true })
    await mkdir(path.join(root, 'var/cache/apt/archives/partial'), { recursive: true })
  },
}

export interface CloudTestImage {
  file: string
  sha256: string
  size: number
  /** Whether this call built it (false: it came from the cache). */
  built: boolean
}

/** An MBR with one bootable Linux partition (LBA fields only; CHS set to "use LBA"). */
export function mbrPartitionTable(startLba: number, sectors: number): Buffer {
  const t = Buffer.alloc(66)
  const e = 0
  t[e] = 0x80
  t.writeUIntBE(0xfeffff, e + 1, 3)
  t[e + 4] = 0x83
  t.writeUIntBE(0xfeffff, e + 5, 3)
  t.writeUInt32LE(startLba, e + 8)
  t.writeUInt32LE(sectors, e + 12)
  t[64] = 0x55
  t[65] = 0xaa
  return t
}

export function cloudTestImageDir(imagesDir: string): string {
  return path.join(imagesDir, `${CLOUD_TEST_IMAGE.name}-${CLOUD_TEST_IMAGE.suite}-${recipeHash(CLOUD_TEST_IMAGE)}-disk`)
}

export async function ensureCloudTestImage(imagesDir: string, progress: Progress): Promise<CloudTestImage> {
  const dir = cloudTestImageDir(imagesDir)
  const file = path.join(dir, 'image.qcow2')
  const meta = path.join(dir, 'image.json')
  const cached = (): CloudTestImage => ({ file, ...(JSON.parse(readFileSync(meta, 'utf8')) as { sha256: string; size: number }), built: false })
  if (existsSync(meta)) return cached()
  const rootfs = await ensureRootfs(CLOUD_TEST_IMAGE, { cacheDir: imagesDir, progress })
  return withFileLock(`${dir}.lock`, { wait: true, what: `building ${path.basename(dir)}` }, async () => {
    if (existsSync(meta)) return cached()
    const tmp = `${dir}.partial`
    await rm(tmp, { recursive: true, force: true })
    await mkdir(tmp, { recursive: true })
    await progress.step('Building the cloud test image (once)', async () => {
      const raw = path.join(tmp, 'disk.raw')
      const sectors = (ROOT_SIZE_MIB * 1024 * 1024) / SECTOR
      await host`truncate -s ${(PART_START + sectors) * SECTOR} ${raw}`
      await host`mkfs.ext4 -q -F -L ${LABEL} -E offset=${PART_START * SECTOR} -d ${rootfs} ${raw} ${ROOT_SIZE_MIB}M`
      // GRUB as grub-install would place it: boot.img's code in the MBR, core.img from sector 1.
      const core = path.join(rootfs, 'tmp/kubelab-core.img')
      const modules = ['biosdisk', 'part_msdos', 'ext2', 'normal', 'linux', 'serial', 'terminal', 'echo', 'test']
      await host`chroot ${rootfs} grub-mkimage -O i386-pc -o /tmp/kubelab-core.img -p ${'(hd0,msdos1)/boot/grub'} ${modules}`
      const coreImg = await readFile(core)
      await rm(core)
      if (coreImg.length > (PART_START - 1) * SECTOR) throw new Error(`core.img is ${coreImg.length} bytes: too big for the gap before the partition`)
      const bootImg = await readFile(path.join(rootfs, 'usr/lib/grub/i386-pc/boot.img'))
      const mbr = Buffer.alloc(SECTOR)
      bootImg.copy(mbr, 0, 0, 440)
      mbrPartitionTable(PART_START, sectors).copy(mbr, 446)
      const fh = await open(raw, 'r+')
      try {
        await fh.write(mbr, 0, SECTOR, 0)
        await fh.write(coreImg, 0, coreImg.length, SECTOR)
      } finally {
        await fh.close()
      }
      await host`qemu-img convert -O qcow2 ${raw} ${path.join(tmp, 'image.qcow2')}`
      await rm(raw, { force: true })
      const { sha256, size } = await sha256File(path.join(tmp, 'image.qcow2'))
      await writeFile(path.join(tmp, 'image.json'), JSON.stringify({ sha256, size, recipe: recipeHash(CLOUD_TEST_IMAGE) }, null, 2))
    })
    await rm(dir, { recursive: true, force: true })
    await rename(tmp, dir)
    return { ...cached(), built: true }
  })
}
