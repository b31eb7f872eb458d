// One QEMU VM: its folder (qcow2 overlay, seed disk, serial log, pid file), the accelerator choice
// and the QEMU command line (pure functions, unit-tested to the exact string), and the seed that
// gives the VM its name, keys and network at boot: templates/qemu/kubelab-seed for the locally
// built image, a cloud-init NoCloud ISO (nocloud.ts) for cloud images.

import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { StateError } from '../../errors.ts'
import { host } from '../../host/exec.ts'
import { writeFileAtomic } from '../../host/files.ts'
import type { QemuAccel } from '../../config/schema.ts'
import { socketPath } from '../common/forward.ts'
import { hostsFile } from './nocloud.ts'

export interface VmPaths {
  dir: string
  disk: string
  seedDir: string
  seed: string
  /** cloud images: the NoCloud seed's files and its ISO. */
  cidataDir: string
  cidata: string
  /** Disk-booted VMs: SeaBIOS's serial console port (fw_cfg etc/sercon-port, 2 bytes little-endian). */
  sercon: string
  serial: string
  pidFile: string
  sshSocket: string
  hostKey: string
}

export function vmPaths(stateDir: string, name: string): VmPaths {
  const dir = path.join(stateDir, 'machines', name)
  return {
    dir,
    disk: path.join(dir, 'disk.qcow2'),
    seedDir: path.join(dir, 'seed'),
    seed: path.join(dir, 'seed.img'),
    cidataDir: path.join(dir, 'cidata'),
    cidata: path.join(dir, 'cidata.iso'),
    sercon: path.join(dir, 'sercon-port'),
    serial: path.join(dir, 'serial.log'),
    pidFile: path.join(dir, 'qemu.pid'),
    sshSocket: socketPath(dir, 'ssh'),
    hostKey: path.join(dir, 'ssh_host_ed25519_key'),
  }
}

/** A stable, locally administered MAC per node (52:54:00 is QEMU's prefix). */
export function macFor(name: string): string {
  const h = createHash('sha256').update(name).digest('hex')
  return `52:54:00:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`
}

export type Accel = 'kvm' | 'hvf' | 'tcg'

/**
 * The accelerator: what the config asks for, else (auto) HVF on macOS, KVM where usable, TCG
 * otherwise. Whether the asked-for one works is preflight's business.
 */
export function chooseAccel(wanted: QemuAccel, host: { platform: NodeJS.Platform; kvmUsable: boolean }): Accel {
  if (wanted !== 'auto') return wanted
  if (host.platform === 'darwin') return 'hvf'
  return host.kvmUsable ? 'kvm' : 'tcg'
}

export type VmNet =
  /** Root: a tap device on the lab bridge (inside the lab namespace). */
  | { mode: 'tap'; tap: string; mac: string }
  /**
   * Rootless: QEMU user-mode networking (guest ports forwarded to 127.0.0.1), plus a second NIC
   * on the VMs' private network: the LAN hub's UNIX socket (lan-hub.mjs).
   */
  | { mode: 'user'; hostfwd: { port: number; guest: number }[]; mac: string; lan: { socket: string; mac: string } }

export interface VmSpec {
  name: string
  accel: Accel
  cpus: number
  memoryMiB: number
  /** Direct kernel boot (the locally built image). Without: the disk's own bootloader (cloud images). */
  kernel?: string
  initrd?: string
  /** Disk boot: a file holding SeaBIOS's serial console port, so BIOS and bootloader messages
   * ("not a bootable disk", GRUB errors) reach the serial log too. */
  sercon?: string
  disk: string
  seed: string
  serialLog: string
  pidFile: string
  net: VmNet
}

/** The QEMU command line (argv without the program). */
export function qemuArgv(s: VmSpec): string[] {
  const accel = s.accel === 'tcg' ? ['-accel', 'tcg,thread=multi,tb-size=256', '-cpu', 'max'] : ['-accel', s.accel, '-cpu', 'host']
  const boot = s.kernel
    ? ['-kernel', s.kernel, '-initrd', s.initrd ?? '', '-append', `root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname=${s.name}`,
        '-drive', `file=${s.disk},if=virtio,format=qcow2,cache=unsafe,discard=unmap`]
    : [...(s.sercon ? ['-fw_cfg', `name=etc/sercon-port,file=${s.sercon}`] : []),
        '-drive', `file=${s.disk},if=none,id=disk0,format=qcow2,cache=unsafe,discard=unmap`, '-device', 'virtio-blk-pci,drive=disk0,bootindex=0']
  const netdev = s.net.mode === 'tap'
    ? `tap,id=n0,ifname=${s.net.tap},script=no,downscript=no`
    : `user,id=n0,${s.net.hostfwd.map((f) => `hostfwd=tcp:127.0.0.1:${f.port}-:${f.guest}`).join(',')}`
  return [
    '-name', s.name,
    '-machine', 'q35', ...accel,
    '-smp', String(s.cpus), '-m', String(s.memoryMiB),
    '-nodefaults', '-display', 'none',
    '-serial', `file:${s.serialLog}`,
    ...boot,
    '-drive', `file=${s.seed},if=virtio,format=raw,readonly=on`,
    '-netdev', netdev, '-device', `virtio-net-pci,netdev=n0,mac=${s.net.mac}`,
    ...(s.net.mode === 'user'
      ? ['-netdev', `stream,id=n1,server=off,addr.type=unix,addr.path=${s.net.lan.socket}`, '-device', `virtio-net-pci,netdev=n1,mac=${s.net.lan.mac}`]
      : []),
    '-device', 'virtio-rng-pci',
    '-pidfile', s.pidFile, '-daemonize',
  ]
}

export interface SeedFiles {
  name: string
  authorizedKey: string
  hosts: Readonly<Record<string, string>>
  /** Commands run at boot to bring up eth0. */
  network: string
  /** /etc/resolv.conf. */
  resolvConf: string
}

/** The network of a VM as a boot script: a static address on eth0 and a default route; rootless
 * VMs also get their cluster address on eth1, the private network between the VMs. */
export function networkScript(addressCidr: string, gateway: string, lanCidr?: string): string {
  const lan = lanCidr ? `ip link set eth1 up\nip addr add ${lanCidr} dev eth1\n` : ''
  return `ip link set lo up\nip link set eth0 up\nip addr add ${addressCidr} dev eth0\nip route replace default via ${gateway}\n${lan}`
}

/** Writes the seed folder and packs it into a small ext4 image the VM mounts at boot. */
export async function writeSeed(p: VmPaths, f: SeedFiles): Promise<void> {
  rmSync(p.seedDir, { recursive: true, force: true })
  mkdirSync(p.seedDir, { recursive: true })
  const put = (name: string, text: string) => writeFileSync(path.join(p.seedDir, name), text)
  put('hostname', `${f.name}\n`)
  put('hosts', hostsFile(f.hosts))
  put('resolv.conf', f.resolvConf)
  put('machine-id', `${machineId(p)}\n`)
  put('authorized_keys', `${f.authorizedKey.trim()}\n`)
  put('network.sh', f.network)
  copyFileSync(p.hostKey, path.join(p.seedDir, 'ssh_host_ed25519_key'))
  copyFileSync(`${p.hostKey}.pub`, path.join(p.seedDir, 'ssh_host_ed25519_key.pub'))
  rmSync(p.seed, { force: true })
  await host`mkfs.ext4 -q -F -L kubelab-seed -d ${p.seedDir} ${p.seed} 8M`
}

/** One machine-id per VM, kept across restarts (written atomically; a damaged one is named, not replaced). */
function machineId(p: VmPaths): string {
  const file = path.join(p.dir, 'machine-id')
  if (!existsSync(file)) writeFileAtomic(file, randomBytes(16).toString('hex'), { mode: 0o644 })
  const id = readFileSync(file, 'utf8').trim()
  if (!/^[0-9a-f]{32}$/.test(id)) throw new StateError(file, `the machine-id of VM ${path.basename(p.dir)}`, 'not 32 hex digits')
  return id
}

/** The sercon-port file: the first serial port, 0x3f8, as SeaBIOS reads an integer from fw_cfg. */
export function writeSerconPort(p: VmPaths): void {
  const b = Buffer.alloc(2)
  b.writeUInt16LE(0x3f8)
  writeFileSync(p.sercon, b)
}

export async function ensureOverlayDisk(base: string, p: VmPaths): Promise<void> {
  if (!existsSync(p.disk)) await host`qemu-img create -q -f qcow2 -F qcow2 -b ${base} ${p.disk}`
}

export function readPid(p: VmPaths): number | undefined {
  try {
    const n = Number(readFileSync(p.pidFile, 'utf8').trim())
    return Number.isInteger(n) && n > 0 ? n : undefined
  } catch {
    return undefined
  }
}
