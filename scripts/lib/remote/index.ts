// remote/index.ts — the public face of remote execution: import Runner and friends from here.

export { SshRunner, type RunnerOptions } from './runner.ts'
export type { Dollar, FileToWrite, Result, RunOptions, Runner, UploadOptions } from './types.ts'
export { connect, type ConnectOptions, type Connection, type SshAuth, type SshTarget } from './connect.ts'
export { JsonFileHostKeyStore, MemoryHostKeyStore, fingerprint, type HostKeyStore } from './hostkeys.ts'
export { CommandTimeoutError, SshError, type SshErrorReason } from './errors.ts'
export { quote, quoteValue, raw, buildScript, type RawShell } from './quote.ts'
export { mapLimit, Semaphore } from './limit.ts'
export { uploadAll, type UploadJob } from './transfer.ts'
