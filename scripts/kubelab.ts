// Entry point of `kubelab` (see scripts/bin/kubelab.mjs): runs the CLI on this process.
import { main } from './cli.ts'

// `kubelab ... | head` closes stdout early: that is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw err
})

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
