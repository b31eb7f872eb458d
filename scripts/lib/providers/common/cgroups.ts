// Per-machine cgroups on a cgroup v1 (hybrid) host: one folder per machine in every hierarchy,
// below the cgroup this process is in, so two machines' PID 1 never share a cgroup. Removed
// depth-first after the machine stopped; processes left in them (descendants of the machine we
// started) are killed first.

import { existsSync, readdirSync, readFileSync, rmdirSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const ROOT = '/sys/fs/cgroup'

interface Hierarchy {
  /** Mount point of the hierarchy. */
  mount: string
  /** This process's cgroup path in it. */
  own: string
}

/** Parses /proc/self/cgroup into mounted hierarchies (v1 controllers, name=systemd, unified). */
export function hierarchies(procCgroup = readFileSync('/proc/self/cgroup', 'utf8')): Hierarchy[] {
  const out: Hierarchy[] = []
  for (const line of procCgroup.trim().split('\n')) {
    const [, controllers, own] = line.split(':') as [string, string, string]
    let mount: string
    if (controllers === '') mount = existsSync(path.join(ROOT, 'unified')) ? path.join(ROOT, 'unified') : ROOT
    else if (controllers.startsWith('name=')) mount = path.join(ROOT, controllers.slice(5))
    else mount = path.join(ROOT, controllers.split(',')[0]!)
    if (!existsSync(mount)) {
      // Co-mounted controllers (cpu,cpuacct) may be mounted under the joined name.
      const joined = path.join(ROOT, controllers)
      if (existsSync(joined)) mount = joined
      else continue
    }
    out.push({ mount, own })
  }
  return out
}

/** The folders of one machine's cgroup, one per hierarchy. */
export function machineCgroups(name: string): string[] {
  return hierarchies().map((h) => path.join(h.mount, h.own, name))
}

/**
 * Creates the machine's cgroups; returns the cgroup.procs files a launcher writes its PID into.
 * `cpuWeight` (relative to 1, the default every machine has): its share of the CPU when machines
 * compete for it (cpu.shares on v1, cpu.weight on v2); nothing is capped.
 */
export function createMachineCgroups(name: string, o: { cpuWeight?: number } = {}): string[] {
  const procs: string[] = []
  for (const dir of machineCgroups(name)) {
    mkdirSync(dir, { recursive: true })
    if (o.cpuWeight !== undefined && o.cpuWeight !== 1) {
      const shares = path.join(dir, 'cpu.shares')
      const weight = path.join(dir, 'cpu.weight')
      if (existsSync(shares)) writeFileSync(shares, String(Math.round(1024 * o.cpuWeight)))
      else if (existsSync(weight)) writeFileSync(weight, String(Math.round(100 * o.cpuWeight)))
    }
    if (dir.startsWith(`${ROOT}/cpuset/`)) {
      // cpuset v1: a new cgroup has no CPUs or memory nodes until given its parent's.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        const own = path.join(dir, f)
        if (existsSync(own) && readFileSync(own, 'utf8').trim() === '') {
          writeFileSync(own, readFileSync(path.join(path.dirname(dir), f), 'utf8'))
        }
      }
    }
    procs.push(path.join(dir, 'cgroup.procs'))
  }
  return procs
}

/** `fn()`, or `fallback` when what it reads vanished meanwhile (cgroups go away as their processes exit). */
function gone<T>(fn: () => T, fallback: T): T {
  try {
    return fn()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback
    throw err
  }
}

/** A cgroup's child cgroups; none when it vanished meanwhile. */
function subdirs(dir: string): string[] {
  return gone(() => readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name)), [])
}

/** Every PID still in the machine's cgroups (any depth). */
export function cgroupPids(name: string): number[] {
  const pids = new Set<number>()
  const walk = (dir: string) => {
    for (const l of gone(() => readFileSync(path.join(dir, 'cgroup.procs'), 'utf8'), '').split('\n')) if (l.trim()) pids.add(Number(l))
    for (const sub of subdirs(dir)) walk(sub)
  }
  for (const dir of machineCgroups(name)) walk(dir)
  return [...pids]
}

/** Removes the machine's cgroups depth-first. Returns the folders that could not be removed. */
export function removeMachineCgroups(name: string): string[] {
  const left: string[] = []
  const remove = (dir: string) => {
    if (!existsSync(dir)) return
    for (const sub of subdirs(dir)) remove(sub)
    try { rmdirSync(dir) } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir) }
  }
  for (const dir of machineCgroups(name)) remove(dir)
  return left
}
