// One nspawn machine: its folders (overlay upper/work, merged root, bind-mounted
// /var/lib/containerd and /var/lib/kubelet), its own files (hostname, machine-id, host key,
// authorized key), its cgroups, the systemd-nspawn process, and the SSH forwarders (a UNIX socket
// for kubelab, a 127.0.0.1 port for the user). Recipe and the reason for each flag:
// shared/design/test-lab.md section A.

import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { quote } from 'zx'
import { MachineError } from '../../errors.ts'
import { host, hostOk } from '../../host/exec.ts'
import { cgroupPids, createMachineCgroups, removeMachineCgroups } from '../common/cgroups.ts'
import { socketPath } from '../common/forward.ts'
import { spawnDetached } from '../common/process.ts'

export interface MachinePaths {
  dir: string
  upper: string
  work: string
  rootfs: string
  containerd: string
  kubelet: string
  console: string
  /** UNIX socket leading to the machine's sshd (common/forward.ts). */
  sshSocket: string
  hostKey: string
}

export function machinePaths(stateDir: string, name: string): MachinePaths {
  const dir = path.join(stateDir, 'machines', name)
  return {
    dir,
    upper: path.join(dir, 'upper'),
    work: path.join(dir, 'work'),
    rootfs: path.join(dir, 'rootfs'),
    containerd: path.join(dir, 'var-lib-containerd'),
    kubelet: path.join(dir, 'var-lib-kubelet'),
    console: path.join(dir, 'console.log'),
    sshSocket: socketPath(dir, 'ssh'),
    hostKey: path.join(dir, 'ssh_host_ed25519_key'),
  }
}

export function isMounted(dir: string): boolean {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
  return mounts.split('\n').some((l) => l.split(' ')[4] === dir)
}

export async function ensureOverlay(base: string, p: MachinePaths): Promise<void> {
  for (const d of [p.upper, p.work, p.rootfs, p.containerd, p.kubelet]) mkdirSync(d, { recursive: true })
  if (!isMounted(p.rootfs)) {
    await host`mount -t overlay overlay -o ${`lowerdir=${base},upperdir=${p.upper},workdir=${p.work}`} ${p.rootfs}`
  }
}

export interface NodeFiles {
  name: string
  /** /etc/resolv.conf (egress/upstream.ts machineResolvConf). */
  resolvConf: string
  authorizedKey: string
  /** name -> address of every machine in the cluster, for /etc/hosts. */
  hosts: Readonly<Record<string, string>>
}

/** Writes the machine's own files into its (mounted) root. */
export function writeNodeFiles(p: MachinePaths, f: NodeFiles): void {
  const at = (rel: string) => path.join(p.rootfs, rel)
  writeFileSync(at('etc/hostname'), `${f.name}\n`)
  const hosts = Object.entries(f.hosts).map(([n, a]) => `${a}\t${n}`).join('\n')
  writeFileSync(at('etc/hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${hosts}\n`)
  writeFileSync(at('etc/resolv.conf'), f.resolvConf)
  const machineId = at('etc/machine-id')
  if (readFileSync(machineId, 'utf8').trim() === '') writeFileSync(machineId, `${randomBytes(16).toString('hex')}\n`)
  for (const ext of ['', '.pub']) {
    copyFileSync(`${p.hostKey}${ext}`, at(`etc/ssh/ssh_host_ed25519_key${ext}`))
    chmodSync(at(`etc/ssh/ssh_host_ed25519_key${ext}`), ext ? 0o644 : 0o600)
  }
  mkdirSync(at('root/.ssh'), { recursive: true, mode: 0o700 })
  writeFileSync(at('root/.ssh/authorized_keys'), `${f.authorizedKey.trim()}\n`, { mode: 0o600 })
}

/** Where the kubelab cache appears inside every nspawn machine (read-only). */
export const NODE_CACHE_PATH = '/run/kubelab/cache'

export interface BootSpec {
  name: string
  /** Also the cgroup folder name: unique on the host. */
  unitName: string
  netns: string
  /** The host's kubelab cache, bound read-only at NODE_CACHE_PATH (uploads become local copies). */
  cacheDir: string
  /** CPU share relative to other machines when they compete (cgroups.ts); default 1. */
  cpuWeight?: number
}

/** Starts systemd-nspawn for the machine from its own cgroups. Returns the nspawn PID. */
export function startNspawn(p: MachinePaths, spec: BootSpec): number {
  const procs = createMachineCgroups(spec.unitName, { cpuWeight: spec.cpuWeight ?? 1 })
  const nspawn = [
    'systemd-nspawn', '--quiet', '--boot',
    '--register=no', '--keep-unit', // no system bus on the host; stay in the cgroup we made
    '--capability=all', // CNI and kube-proxy need CAP_NET_ADMIN and friends
    `--network-namespace-path=/run/netns/${spec.netns}`,
    `--machine=${spec.name}`, `--hostname=${spec.name}`,
    '--resolv-conf=off', '--timezone=off', '--link-journal=no', '--console=read-only',
    `--bind=${p.containerd}:/var/lib/containerd`, // overlayfs snapshotter cannot sit on overlay
    `--bind=${p.kubelet}:/var/lib/kubelet`,
    `--bind-ro=${spec.cacheDir}:${NODE_CACHE_PATH}`,
    '-D', p.rootfs,
  ]
  // The launching shell moves itself into the machine's cgroups, then becomes systemd-nspawn.
  const script = `for f in ${procs.map((f) => quote(f)).join(' ')}; do echo $$ > "$f"; done; exec ${nspawn.map((a) => quote(a)).join(' ')}`
  // runc inside cannot join a session keyring under nspawn's seccomp filter.
  return spawnDetached('/bin/sh', ['-c', script], p.console, { ...process.env, SYSTEMD_SECCOMP: '0' })
}

/** After nspawn exited: kill what is left in the machine's cgroups (its descendants), remove them, unmount. */
export async function cleanupMachine(p: MachinePaths, unitName: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const pids = cgroupPids(unitName)
    if (pids.length === 0) break
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
    await sleep(100)
  }
  const left = removeMachineCgroups(unitName)
  if (left.length) throw new MachineError(unitName, `cgroups could not be removed: ${left.join(', ')}`)
  for (let i = 0; i < 20 && isMounted(p.rootfs); i++) {
    if (await hostOk`umount ${p.rootfs}`) break
    await sleep(250)
  }
  if (isMounted(p.rootfs)) await host`umount --lazy ${p.rootfs}`
}
