// remote/errors.ts — the SSH failure vocabulary. One class, SshError (code ERR_SSH), with a
// `reason` naming what went wrong (connection refused, authentication, changed host key, ...), a
// message naming the node, and a hint where the fix is known. A command that ran and failed or
// timed out is a CommandError (../errors.ts); CommandTimeoutError is its timed-out form.

import { CommandError, KubelabError, type CommandResult } from '../errors.ts'

export type SshErrorReason =
  | 'CONNECTION_REFUSED' // nothing listens on host:port (after retries until the deadline)
  | 'CONNECT_TIMEOUT' // the deadline passed without a handshake (unreachable, filtered, slow boot)
  | 'AUTH_FAILED' // the server refused every key offered (wrong key or unknown user)
  | 'HOST_KEY_CHANGED' // the server's host key differs from the pinned one
  | 'CONNECTION_LOST' // the connection dropped while a command or transfer was running
  | 'CHANNEL_FAILED' // the server refused to open a session channel
  | 'UPLOAD_VERIFY_FAILED' // the uploaded file's sha256 on the node is not the expected one
  | 'BAD_TARGET' // the target or its credentials are unusable (missing key file, no agent)
  | 'PROTOCOL' // the remote shell answered something the runner cannot parse

/** Something went wrong talking SSH to a node (as opposed to a command that ran and failed). */
export class SshError extends KubelabError {
  // 'ERR_SSH' is not in ErrorCode's union yet (scripts/lib/errors.ts is owned elsewhere): cast.
  readonly code = 'ERR_SSH'
  constructor(
    readonly node: string,
    readonly reason: SshErrorReason,
    message: string,
    options?: { cause?: unknown; hint?: string; commandStarted?: boolean },
  ) {
    super(message, options)
    if (options?.commandStarted !== undefined) this.commandStarted = options.commandStarted
  }
  /** For CONNECTION_LOST: whether the remote shell had acknowledged the command (it may have run). */
  readonly commandStarted?: boolean
}

/** A command ran past its timeout; the remote process group was killed. */
export class CommandTimeoutError extends CommandError {
  constructor(
    result: CommandResult,
    readonly timeoutMs: number,
  ) {
    super(result, {
      reason: `timed out after ${timeoutMs / 1000}s`,
      hint: 'raise the timeout for this command, or check why it hangs on the node',
    })
  }
}
