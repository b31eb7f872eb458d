// Running the upstream conformance suite against a kubelab cluster: e2e.test + ginkgo built from
// Go modules on demand (build.sh component `e2e-test`, cached like every build), a kubeconfig
// whose server is the control plane's lab address, and e2e.test run inside the lab network
// namespace (`ip netns exec kubelab-<cluster>`) so that the API server, and the node addresses
// some tests contact directly, are reached there and never from the host's namespace.

import { spawn } from 'node:child_process'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { parse, stringify } from 'yaml'
import { ensureBuilt, type BuildOutcome } from '../artifacts/build.ts'
import { hostArch, type Arch } from '../artifacts/lock.ts'
import type { ClusterConfig } from '../config/types.ts'
import { UsageError } from '../errors.ts'
import { writeFileAtomic } from '../host/files.ts'
import type { Progress } from '../log/progress.ts'
import { labNames, netnsExists } from '../providers/common/network.ts'
import { providerTraits } from '../providers/traits.ts'
import type { Machine } from '../providers/types.ts'

export const E2E_BUILD = 'e2e-test'

/** e2e.test and ginkgo for this Kubernetes version, built from Go modules when not cached (20+ min the first time). */
export async function ensureE2eBinaries(version: string, o: { cache: string; progress: Progress; arch?: Arch }): Promise<{ e2e: string; ginkgo: string; outcome: BuildOutcome }> {
  const arch = o.arch ?? hostArch()
  const [outcome] = await ensureBuilt([{
    build: E2E_BUILD,
    version,
    files: [
      { name: 'e2e.test', nodes: 'image', versionArgs: ['--version'] },
      { name: 'ginkgo', nodes: 'image', versionArgs: ['version'] },
    ],
  }], { cache: o.cache, arch, progress: o.progress })
  return { e2e: path.join(outcome!.dir, 'e2e.test'), ginkgo: path.join(outcome!.dir, 'ginkgo'), outcome: outcome! }
}

/** The admin kubeconfig with its server set to the control plane's lab address (for use inside the lab namespace). */
export function labKubeconfig(adminConf: string, server: string): string {
  const kc = parse(adminConf) as { clusters?: { cluster: { server: string } }[] }
  if (!kc?.clusters?.length) throw new UsageError('the admin kubeconfig has no cluster entry')
  for (const c of kc.clusters) c.cluster.server = server
  return stringify(kc, { lineWidth: 0 })
}

/**
 * Where e2e.test runs: inside the lab namespace (providers with a lab network), or on this host's
 * network for the others (ssh hosts, multipass VMs). A lab-network provider without its namespace
 * (not up, or rootless QEMU, whose nodes only its VMs reach) is a usage error.
 */
export function e2eLauncher(config: ClusterConfig, exists: (ns: string) => boolean = netnsExists): { prefix: string[]; where: string } {
  const lab = labNames(config.name).lab
  if (exists(lab)) return { prefix: ['ip', 'netns', 'exec', lab], where: `network namespace ${lab}` }
  if (!providerTraits(config.provider.type).labNetwork) return { prefix: [], where: 'this host (the nodes are on its network)' }
  throw new UsageError(`the lab network namespace ${lab} does not exist`, {
    hint: 'conformance needs a running cluster made by kubelab as root (nspawn, or QEMU with the lab bridge); run: npx kubelab up',
  })
}

export interface RunE2eOptions {
  config: ClusterConfig
  stateDir: string
  controlPlane: Machine
  e2e: string
  /** e2e.test arguments without --kubeconfig (added here). */
  args: (kubeconfig: string) => string[]
  /** e2e.test output goes here too (and to stderr as it runs). */
  logFile: string
  progress: Progress
  exists?: (ns: string) => boolean
}

/** Runs e2e.test in the lab namespace; resolves with its exit code. */
export async function runE2e(o: RunE2eOptions): Promise<{ exitCode: number; where: string; command: string[] }> {
  const admin = path.join(o.stateDir, 'pki', 'admin.conf')
  if (!existsSync(admin)) throw new UsageError(`cluster "${o.config.name}" has no admin kubeconfig yet (${admin}); run: npx kubelab up`)
  const kubeconfig = path.join(o.stateDir, 'conformance.kubeconfig')
  writeFileAtomic(kubeconfig, labKubeconfig(readFileSync(admin, 'utf8'), `https://${o.controlPlane.address}:6443`), { mode: 0o600 })
  const { prefix, where } = e2eLauncher(o.config, o.exists)
  const command = [...prefix, o.e2e, ...o.args(kubeconfig)]
  await mkdir(path.dirname(o.logFile), { recursive: true })
  const log = createWriteStream(o.logFile)
  o.progress.info(`running e2e.test in ${where}: ${command.join(' ')}`)
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root', KUBECONFIG: kubeconfig },
    })
    const forward = (b: Buffer) => {
      log.write(b)
      if (o.progress.verbosity >= 1) process.stderr.write(b)
    }
    child.stdout.on('data', forward)
    child.stderr.on('data', forward)
    child.on('error', reject)
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
  })
  await new Promise<void>((resolve) => log.end(resolve))
  return { exitCode, where, command }
}
