// Runs the real `kubelab` bin as a child process and captures both streams.
import { execFile } from 'node:child_process'
import { CLI, ROOT } from './paths.ts'

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

export function kubelab(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', CI: '1', ...options.env },
      timeout: 60_000,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}
