// kubectl for the smoke suite: the pinned binary on this host, against the cluster's loopback
// forward with the admin kubeconfig (what a user's own shell does). Async, bounded by a timeout,
// never printing secrets: arguments are names, manifests go through stdin.

import { spawn, type ChildProcess } from 'node:child_process'
import { CommandError } from '../errors.ts'

export interface KubeResult {
  code: number
  stdout: string
  stderr: string
}

export class Kube {
  constructor(readonly kubectl: string, readonly kubeconfig: string) {}

  /** `kubectl ARGS`; throws a CommandError on a non-zero exit unless nothrow. */
  async run(args: readonly string[], o: { input?: string; nothrow?: boolean; timeoutMs?: number } = {}): Promise<KubeResult> {
    const started = Date.now()
    const child = this.spawn(args)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    child.stdin!.end(o.input ?? '')
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000)
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 137)))
    clearTimeout(timer)
    const result = { code, stdout, stderr }
    if (code !== 0 && !o.nothrow) {
      throw new CommandError({ node: 'host', command: `kubectl ${args.join(' ')}`, exitCode: code, signal: null, stdout, stderr, durationMs: Date.now() - started })
    }
    return result
  }

  async json<T>(args: readonly string[]): Promise<T> {
    return JSON.parse((await this.run([...args, '-o', 'json'])).stdout) as T
  }

  apply(manifest: string): Promise<KubeResult> {
    return this.run(['apply', '-f', '-'], { input: manifest })
  }

  /** A long-running kubectl (port-forward); the caller kills it. */
  spawn(args: readonly string[]): ChildProcess {
    return spawn(this.kubectl, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: this.kubeconfig } })
  }
}
