// bench/ssh.ts — measures the SSH Runner against the OpenSSH client on a throwaway sshd
// (test/helpers/sshd.ts, loopback, a test user with Debian's default ~/.bashrc): upload throughput
// of a 200 MB file (Runner.upload vs scp) and per-command round trip over 100 sequential `true`
// (Runner.$ vs `ssh host true` through a ControlMaster). Needs root, openssh-server and sudo.
// Run: npx tsx scripts/bench/ssh.ts   — the last line is `ssh-bench upload_ratio=R1 exec_ratio=R2`.

import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryHostKeyStore, SshRunner } from '../lib/remote/index.ts'
import { SUDO_USER, Sshd, sshdUnavailable } from '../../test/helpers/sshd.ts'
import { randomFile } from '../../test/helpers/files.ts'

const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 200)
const COMMANDS = Number(process.env.BENCH_COMMANDS ?? 100)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const USER = SUDO_USER // not root: its ~/.bashrc is /etc/skel's

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

async function main() {
  const why = sshdUnavailable()
  if (why) throw new Error(`ssh bench: ${why}`)
  const sshd = await Sshd.start()
  const local = mkdtempSync(join(tmpdir(), 'kubelab-bench-'))
  const runner = new SshRunner({
    node: 'bench',
    target: { host: sshd.host, port: sshd.port, user: USER, auth: { privateKeyPath: sshd.clientKey, agent: false } },
    hostKeys: new MemoryHostKeyStore(),
    sudo: false,
  })
  const sshOpts = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-i', sshd.clientKey]
  const controlPath = join(sshd.dir, 'cm-%C')
  try {
    const file = join(local, 'blob.bin')
    process.stderr.write(`generating ${SIZE_MB} MB of random data...\n`)
    const sha = await randomFile(file, SIZE_MB)
    const home = `/home/${USER}`
    const remote = `${home}/kubelab-bench.bin`
    await runner.$`true` // connect

    // Upload: alternate the two so page cache and CPU state are shared fairly.
    const kl: number[] = []
    const scp: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      await runner.$`rm -f ${remote} ${remote}.scp`
      let t0 = performance.now()
      const how = await runner.upload(file, remote, sha)
      if (how !== 'sent') throw new Error(`expected a real upload, got ${how}`)
      kl.push(performance.now() - t0)
      t0 = performance.now()
      run('scp', ['-q', ...sshOpts, '-P', String(sshd.port), file, `${USER}@${sshd.host}:${remote}.scp`])
      scp.push(performance.now() - t0)
    }
    const check = await runner.$`sha256sum ${remote}.scp | cut -d' ' -f1`
    if (check.stdout.trim() !== sha) throw new Error('scp copy has the wrong checksum')
    await runner.$`rm -f ${remote} ${remote}.scp`
    const klMBs = SIZE_MB / (median(kl) / 1000)
    const scpMBs = SIZE_MB / (median(scp) / 1000)

    // Per-command round trip: 100 sequential `true`.
    run('ssh', [...sshOpts, '-p', String(sshd.port), '-o', `ControlPath=${controlPath}`, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=120', '-fN', `${USER}@${sshd.host}`])
    const viaMaster = ['-o', `ControlPath=${controlPath}`, '-o', 'ControlMaster=no', '-p', String(sshd.port), ...sshOpts, `${USER}@${sshd.host}`, 'true']
    run('ssh', viaMaster) // warm
    for (let i = 0; i < 3; i++) await runner.$`true` // warm
    const klMs: number[] = []
    const sshMs: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      let t0 = performance.now()
      for (let i = 0; i < COMMANDS; i++) await runner.$`true`
      klMs.push((performance.now() - t0) / COMMANDS)
      t0 = performance.now()
      for (let i = 0; i < COMMANDS; i++) run('ssh', viaMaster)
      sshMs.push((performance.now() - t0) / COMMANDS)
    }
    spawnSync('ssh', ['-o', `ControlPath=${controlPath}`, '-O', 'exit', `${USER}@${sshd.host}`], { stdio: 'ignore' })
    const klCmd = median(klMs)
    const sshCmd = median(sshMs)

    const f = (n: number) => n.toFixed(1)
    const f2 = (n: number) => n.toFixed(2)
    const ssh = spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr ?? ''
    console.log(`machine: ${cpus()[0]?.model ?? '?'} x${cpus().length}, node ${process.version}${ssh ? `, ${ssh.trim()}` : ''}`)
    console.log(`upload ${SIZE_MB} MB (median of ${ROUNDS}):`)
    console.log(`  kubelab Runner.upload  ${f(median(kl))} ms  ${f(klMBs)} MB/s  (stream + remote sha256 verify + rename; runs: ${kl.map((x) => Math.round(x)).join(', ')})`)
    console.log(`  scp                    ${f(median(scp))} ms  ${f(scpMBs)} MB/s  (runs: ${scp.map((x) => Math.round(x)).join(', ')})`)
    console.log(`command round trip, ${COMMANDS} x true (median of ${ROUNDS}):`)
    console.log(`  kubelab Runner.$       ${f2(klCmd)} ms/command  (runs: ${klMs.map(f2).join(', ')})`)
    console.log(`  ssh via ControlMaster  ${f2(sshCmd)} ms/command  (runs: ${sshMs.map(f2).join(', ')})`)
    console.log(`ssh-bench upload_ratio=${f2(klMBs / scpMBs)} exec_ratio=${f2(klCmd / sshCmd)}`)
  } finally {
    runner.close()
    rmSync(local, { recursive: true, force: true })
    await sshd.dispose()
  }
}

await main()
