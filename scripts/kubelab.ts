// Entry point of `kubelab` (see scripts/bin/kubelab.mjs): runs the CLI on this process.
import { main } from './cli.ts'

// `kubelab ... | head` closes stdout early: that is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw err
})

// Ctrl-C: stop at once. Every step is safe to re-run, and a lock left by this process is taken over.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n! interrupted (${signal}); nothing is lost: run the same command again to continue\n`)
    process.exit(signal === 'SIGINT' ? 130 : 143)
  })
}

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
