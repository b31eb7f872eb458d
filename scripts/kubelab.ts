// Entry point of `kubelab` (see scripts/bin/kubelab.mjs): runs the CLI on this process.
import { main } from './cli.ts'
import { installInterruptHandlers } from './lib/host/interrupt.ts'

// `kubelab ... | head` closes stdout early: that is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw err
})

// Ctrl-C / SIGTERM: cancel and clean up (the lock, plan's PKI copy, temp files on nodes), then exit
// 130 / 143; a second signal exits at once. Every step is safe to re-run.
installInterruptHandlers()

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
