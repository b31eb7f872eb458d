// Entry point of `kubelab` (see scripts/bin/kubelab.mjs): runs the CLI on this process.
import { main } from './cli.ts'

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
