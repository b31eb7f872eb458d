// Runs the real `kubelab` bin as a child process and captures both streams; optionally as another
// (unprivileged) user through runuser.
import { execFile } from 'node:child_process'
import { CLI, ROOT } from './paths.ts'

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

export interface CliOptions {
  env?: Record<string, string>
  cwd?: string
  /** Run as this user (needs root): `runuser -u USER -- node -- kubelab.mjs ...`. */
  asUser?: string
  timeoutMs?: number
}

export function kubelab(args: string[], options: CliOptions = {}): Promise<CliRun> {
  // Lab traffic never leaves into this machine's namespace: egress is off unless a test turns it on.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', CI: '1', KUBELAB_EGRESS: process.env.KUBELAB_EGRESS ?? 'off', ...options.env }
  const [cmd, argv] = options.asUser
    ? ['runuser', ['-u', options.asUser, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, '--', CLI, ...args]]
    : [process.execPath, ['--', CLI, ...args]]
  return new Promise((resolve) => {
    execFile(cmd, argv as string[], { cwd: options.cwd ?? ROOT, env, timeout: options.timeoutMs ?? 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}
