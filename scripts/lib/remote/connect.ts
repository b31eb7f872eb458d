// remote/connect.ts — opens one authenticated ssh2 connection to a node: credentials (key file,
// key text, ssh-agent), host keys checked against the config's pins (known_hosts, fingerprints)
// when it has any, else trusted on first use (said on stderr) and pinned through a HostKeyStore, an optional bastion (ProxyJump:
// forwardOut through the bastion, passed as `sock`), keepalive, and retries with backoff until an
// overall deadline. Every failure comes out as an SshError with a reason and a hint.

import { readFileSync } from 'node:fs'
import net from 'node:net'
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2'
import type { Progress } from '../log/progress.ts'
import { fingerprint, type HostKeyStore } from './hostkeys.ts'
import { keyTypeOf, type HostKeyPins } from './known-hosts.ts'
import { SshError } from './errors.ts'

export interface SshAuth {
  /** Path of a private key file. */
  privateKeyPath?: string
  /** A private key as text (e.g. from .env), OpenSSH or PEM format. */
  privateKey?: string | Buffer
  passphrase?: string
  /** ssh-agent socket; default $SSH_AUTH_SOCK. `false` disables the agent. */
  agent?: string | false
}

export interface SshTarget {
  /** Host name or address; for a `socketPath` target, a name shown in messages. */
  host: string
  /** Reach sshd through this UNIX socket instead of TCP (machines kubelab made: no address dialled). */
  socketPath?: string
  port?: number
  user: string
  auth: SshAuth
  /** Jump host (ProxyJump). Its key is pinned under `name` (default `bastion:HOST:PORT`). */
  bastion?: SshTarget & { name?: string }
  /**
   * Host keys the config pins for this target (known_hosts file, fingerprints). When it names any,
   * the server's key MUST be one of them; the state's first-use pin is then kept in step.
   */
  hostKeyPins?: HostKeyPins
}

export interface ConnectOptions {
  /** Give up connecting after this long, all retries included. Default 60 s. */
  deadlineMs?: number
  /** Handshake timeout of one attempt (capped by the deadline). Default 20 s. */
  readyTimeoutMs?: number
  /** Keepalive probe interval; the connection is dropped after keepaliveCountMax misses. Default 5 s x 3. */
  keepaliveIntervalMs?: number
  keepaliveCountMax?: number
  /** First retry delay, doubled per attempt up to maxBackoffMs. Default 200 ms, 3 s. */
  initialBackoffMs?: number
  maxBackoffMs?: number
}

export interface Connection {
  readonly client: Client
  /** False once the connection closed or failed; a closed Connection is never reused. */
  readonly alive: boolean
  onClose(fn: () => void): void
  close(): void
}

export interface ConnectContext {
  node: string
  hostKeys: HostKeyStore
  progress?: Progress | undefined
  /** Pass to the hint of a changed host key, e.g. `kubelab ssh-reset worker-1`. */
  resetCommand?: (node: string) => string
}

const DEFAULTS = {
  deadlineMs: 60_000,
  readyTimeoutMs: 20_000,
  keepaliveIntervalMs: 5_000,
  keepaliveCountMax: 3,
  initialBackoffMs: 200,
  maxBackoffMs: 3_000,
} satisfies Required<ConnectOptions>

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function where(t: SshTarget): string {
  return `${t.user}@${t.host}:${t.port ?? 22}`
}

/** Connects with retries until the deadline; non-retryable failures (auth, host key) throw at once. */
export async function connect(ctx: ConnectContext, target: SshTarget, options: ConnectOptions = {}): Promise<Connection> {
  const o = { ...DEFAULTS, ...options }
  const deadline = Date.now() + o.deadlineMs
  const creds = credentials(ctx.node, target)
  let delay = o.initialBackoffMs
  let attempt = 0
  for (;;) {
    attempt++
    const remaining = deadline - Date.now()
    try {
      return await attemptOnce(ctx, target, creds, o, Math.max(1_000, Math.min(o.readyTimeoutMs, remaining)), deadline)
    } catch (err) {
      const e = err instanceof SshError ? err : wrap(ctx.node, target, err)
      const retryable = e.reason === 'CONNECTION_REFUSED' || e.reason === 'CONNECT_TIMEOUT'
      const left = deadline - Date.now()
      if (!retryable || left <= 0) {
        if (retryable && attempt > 1) e.message += ` (gave up after ${attempt} attempts in ${Math.round(o.deadlineMs / 1000)}s)`
        throw e
      }
      ctx.progress?.debug(2, `[${ctx.node}] ssh ${where(target)}: ${e.message}; retrying in ${delay}ms`)
      await sleep(Math.min(delay, left))
      delay = Math.min(o.maxBackoffMs, delay * 2)
    }
  }
}

type Creds = Pick<ConnectConfig, 'privateKey' | 'passphrase' | 'agent'>

function credentials(node: string, t: SshTarget): Creds {
  const c: Creds = {}
  if (t.auth.privateKey !== undefined) c.privateKey = t.auth.privateKey
  else if (t.auth.privateKeyPath) {
    try {
      c.privateKey = readFileSync(t.auth.privateKeyPath)
    } catch (err) {
      throw new SshError(node, 'BAD_TARGET', `cannot read the SSH key for ${node}: ${t.auth.privateKeyPath}`, {
        cause: err,
        hint: 'check the key path in cluster.config.yaml / .env',
      })
    }
  }
  if (t.auth.passphrase !== undefined) c.passphrase = t.auth.passphrase
  const agent = t.auth.agent === false ? undefined : (t.auth.agent ?? process.env.SSH_AUTH_SOCK)
  if (agent) c.agent = agent
  if (c.privateKey === undefined && c.agent === undefined) {
    throw new SshError(node, 'BAD_TARGET', `no SSH credentials for ${node}: no key given and SSH_AUTH_SOCK is not set`, {
      hint: 'set a private key (file or text from .env) for this node, or start ssh-agent',
    })
  }
  return c
}

function wrap(node: string, t: SshTarget, err: unknown): SshError {
  const e = err as Error & { code?: string; level?: string }
  const msg = e?.message ?? String(err)
  if (e?.code === 'ECONNREFUSED' || /connection refused/i.test(msg)) {
    return new SshError(node, 'CONNECTION_REFUSED', `connection refused by ${node} (${t.host}:${t.port ?? 22})`, {
      cause: err,
      hint: `is sshd running on ${t.host} and listening on port ${t.port ?? 22}?`,
    })
  }
  if (e?.level === 'client-authentication') {
    return new SshError(node, 'AUTH_FAILED', `SSH authentication failed for ${where(t)} (${node}): the server refused every key offered`, {
      cause: err,
      hint: `check that user "${t.user}" exists on ${node} and that the configured key is in its authorized_keys`,
    })
  }
  if (/Cannot parse privateKey|Encrypted private (OpenSSH )?key detected/i.test(msg)) {
    return new SshError(node, 'BAD_TARGET', `the SSH private key for ${node} is unusable: ${msg}`, {
      cause: err,
      hint: 'check the key text/file, and the passphrase if the key is encrypted',
    })
  }
  return new SshError(node, 'CONNECT_TIMEOUT', `could not connect to ${node} (${t.host}:${t.port ?? 22}): ${msg}`, {
    cause: err,
    hint: `is ${t.host} up and reachable from here?`,
  })
}

async function attemptOnce(
  ctx: ConnectContext,
  target: SshTarget,
  creds: Creds,
  o: Required<ConnectOptions>,
  readyTimeout: number,
  deadline: number,
): Promise<Connection> {
  let bastion: Connection | undefined
  let sock: ClientChannel | net.Socket | undefined
  if (target.socketPath) {
    const path = target.socketPath
    sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(path)
      s.once('connect', () => resolve(s))
      s.once('error', reject)
    }).catch((err: unknown) => {
      throw wrap(ctx.node, target, err)
    })
  } else if (target.bastion) {
    const b = target.bastion
    const bname = b.name ?? `bastion:${b.host}:${b.port ?? 22}`
    bastion = await connect({ ...ctx, node: bname }, b, { ...o, deadlineMs: Math.max(1_000, deadline - Date.now()) })
    try {
      sock = await new Promise<ClientChannel>((resolve, reject) =>
        bastion!.client.forwardOut('127.0.0.1', 0, target.host, target.port ?? 22, (err, ch) => (err ? reject(err) : resolve(ch))),
      )
    } catch (err) {
      bastion.close()
      throw wrap(ctx.node, target, err)
    }
  }
  return await new Promise<Connection>((resolve, reject) => {
    const client = new Client()
    let settled = false
    let alive = false
    let mismatch: { pinned: string; seen: string } | undefined
    let notPinned: { seen: string; type: string; pins: HostKeyPins; revoked: boolean } | undefined
    let storeError: unknown
    const closers: (() => void)[] = []
    const fail = (err: unknown) => {
      if (settled) return
      settled = true
      client.end()
      bastion?.close()
      if (notPinned) {
        const { seen, type, pins, revoked } = notPinned
        reject(
          new SshError(
            ctx.node,
            'HOST_KEY_CHANGED',
            revoked
              ? `the host key of ${ctx.node} (${target.host}:${target.port ?? 22}) is revoked in ${pins.sources.join(' and ')}: ${type} ${seen}. Refusing to connect; nothing was changed.`
              : `the host key of ${ctx.node} (${target.host}:${target.port ?? 22}) is not the one pinned in ${pins.sources.join(' and ')}: ` +
                `pinned ${pins.fingerprints.join(', ')}, server offered ${type} ${seen}. Refusing to connect; nothing was changed.`,
            {
              cause: err,
              hint: `if the machine's key really changed, update ${pins.sources.join(' and ')} (ssh-keyscan, then ssh-keygen -lf FILE shows fingerprints)`,
            },
          ),
        )
      } else if (mismatch) {
        const reset = ctx.resetCommand?.(ctx.node) ?? `kubelab ssh-reset ${ctx.node}`
        reject(
          new SshError(
            ctx.node,
            'HOST_KEY_CHANGED',
            `the host key of ${ctx.node} (${target.host}:${target.port ?? 22}) has changed: pinned ${mismatch.pinned}, server offered ${mismatch.seen}. ` +
              'Refusing to connect: this is either a re-created machine or someone in the middle.',
            {
              cause: err,
              hint: `if the machine was re-created, run \`${reset}\` or delete "${ctx.node}" from ${ctx.hostKeys.location}`,
            },
          ),
        )
      } else if (storeError) {
        reject(new SshError(ctx.node, 'BAD_TARGET', `cannot pin the host key of ${ctx.node} in ${ctx.hostKeys.location}`, { cause: storeError }))
      } else reject(wrap(ctx.node, target, err))
    }
    client.once('ready', () => {
      if (settled) return
      settled = true
      alive = true
      client.setNoDelay(true)
      resolve({
        client,
        get alive() {
          return alive
        },
        onClose(fn) {
          if (!alive) fn()
          else closers.push(fn)
        },
        close() {
          client.end()
        },
      })
    })
    client.on('error', (err) => {
      if (!settled) fail(err)
      else ctx.progress?.debug(2, `[${ctx.node}] ssh connection error: ${err.message}`)
    })
    client.once('close', () => {
      const was = alive
      alive = false
      bastion?.close()
      if (!settled) fail(new Error('connection closed during the handshake'))
      if (was) for (const fn of closers.splice(0)) fn()
    })
    const config: ConnectConfig = {
      host: target.host,
      port: target.port ?? 22,
      username: target.user,
      ...creds,
      readyTimeout,
      keepaliveInterval: o.keepaliveIntervalMs,
      keepaliveCountMax: o.keepaliveCountMax,
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        const seen = fingerprint(key)
        const type = keyTypeOf(key)
        const pins = target.hostKeyPins
        if (pins?.revoked.includes(seen)) {
          notPinned = { seen, type, pins, revoked: true }
          return verify(false)
        }
        const configured = pins !== undefined && pins.fingerprints.length > 0
        if (configured && !pins.fingerprints.includes(seen)) {
          notPinned = { seen, type, pins, revoked: false }
          return verify(false)
        }
        ctx.hostKeys.get(ctx.node).then(
          async (pinned) => {
            if (configured) {
              // The config's pin is authoritative: the state's pin follows it.
              if (pinned !== seen) await ctx.hostKeys.set(ctx.node, seen)
              verify(true)
            } else if (pinned === undefined) {
              await ctx.hostKeys.set(ctx.node, seen)
              firstUse(ctx, target, type, seen)
              verify(true)
            } else if (pinned === seen) verify(true)
            else {
              mismatch = { pinned, seen }
              verify(false)
            }
          },
        ).catch((err) => {
          storeError = err
          verify(false)
        })
      },
    }
    if (sock) config.sock = sock
    try {
      client.connect(config)
    } catch (err) {
      fail(err)
    }
  })
}

/** One line on stderr when a host key is trusted on first use (nothing pinned it beforehand). */
function firstUse(ctx: ConnectContext, target: SshTarget, type: string, seen: string): void {
  const line = `${ctx.node}: trusting its SSH host key on first use: ${type} ${seen} (${target.host}:${target.port ?? 22}); `
    + `pin it in the config (hostKey, or ssh.knownHosts) to refuse any other`
  if (ctx.progress) ctx.progress.warn(line)
  else process.stderr.write(`! ${line}\n`)
}
