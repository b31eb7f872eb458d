// remote/transfer.ts — the remote halves of file transfer, as scripts for the Runner: atomic writes
// (temp file in the target's directory, chmod/chown, rename), the upload probe (skip when the sha256
// already matches) and the verify-then-rename finaliser; plus uploadAll, parallel uploads across
// nodes with a concurrency limit. Pure text builders apart from uploadAll.

import { quote } from './quote.ts'
import { mapLimit } from './limit.ts'
import type { Runner, UploadOptions } from './types.ts'

/** Exit code of the finaliser when the uploaded file's sha256 is not the expected one. */
export const VERIFY_FAILED_EXIT = 42

/** Content up to this size travels inside the script (base64); larger content is streamed. */
export const INLINE_WRITE_MAX = 48 * 1024

export function modeString(mode: number): string {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new TypeError(`invalid file mode ${mode}`)
  return mode.toString(8).padStart(4, '0')
}

export function checkSha256(sha256: string): string {
  const s = sha256.toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(s)) throw new TypeError(`not a sha256 hex digest: ${JSON.stringify(sha256)}`)
  return s
}

/**
 * A shell function printing the sha256 of a file: `openssl dgst` where available (uses the CPU's
 * SHA extensions: ~4x faster than coreutils sha256sum on 200 MB here), else sha256sum.
 */
const SHA256_FN =
  `kl_sha256() { case "$1" in -*) set -- "./$1";; esac; ` +
  `if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | cut -d' ' -f1; ` +
  `else sha256sum -- "$1" | cut -d' ' -f1; fi; }\n`

function permissions(file: string, mode: number, owner?: string): string {
  return `chmod ${modeString(mode)} -- ${file}\n` + (owner ? `chown ${quote(owner)} -- ${file}\n` : '')
}

/** Writes `content` to `path` atomically: mkdir -p, temp file in the same dir, chmod/chown, rename. */
export function writeFileScript(path: string, content: Buffer, mode: number, owner?: string): string {
  const b64 = content.toString('base64').replace(/.{1,76}/g, '$&\n')
  return (
    `p=${quote(path)}\n` +
    `d=$(dirname -- "$p")\n` +
    `mkdir -p -- "$d"\n` +
    `t=$(mktemp -- "$d/.kubelab.XXXXXX")\n` +
    `trap 'rm -f -- "$t"' EXIT\n` +
    `base64 -d > "$t" <<'__KL_B64__'\n${b64}__KL_B64__\n` +
    permissions('"$t"', mode, owner) +
    `mv -f -- "$t" "$p"\n` +
    `trap - EXIT\n`
  )
}

/** Prints `skipped` (after fixing mode/owner) when `path` already has `sha256`, else a fresh temp path. */
export function uploadProbeScript(path: string, sha256: string, mode: number, owner?: string): string {
  return (
    SHA256_FN +
    `p=${quote(path)}\n` +
    `if [ -f "$p" ] && [ "$(kl_sha256 "$p")" = ${checkSha256(sha256)} ]; then\n` +
    permissions('"$p"', mode, owner) +
    `  echo skipped\n  exit 0\nfi\n` +
    `d=$(dirname -- "$p")\n` +
    `mkdir -p -- "$d"\n` +
    `mktemp -- "$d/.kubelab-upload.XXXXXX"\n`
  )
}

/**
 * Installs files the node reads in place (the host cache shared into the machine) in one command:
 * per file, `skipped PATH` when it already has its sha256 (mode fixed), else a copy into a temp
 * file beside it, verified, chmod'ed and renamed, `sent PATH`. A copy that does not verify stops
 * the script with VERIFY_FAILED_EXIT and `PATH SHA256` on stderr. One round trip instead of four
 * per file.
 */
export function installSharedScript(files: readonly { shared: string; path: string; sha256: string; mode: number }[]): string {
  let s = SHA256_FN +
    `kl_install() {
` +
    `  local src=$1 p=$2 sha=$3 mode=$4 d t h
` +
    `  if [ -f "$p" ] && [ "$(kl_sha256 "$p")" = "$sha" ]; then chmod "$mode" -- "$p"; echo "skipped $p"; return; fi
` +
    `  d=$(dirname -- "$p"); mkdir -p -- "$d"
` +
    `  t=$(mktemp -- "$d/.kubelab-upload.XXXXXX")
` +
    `  cp -- "$src" "$t"
` +
    `  h=$(kl_sha256 "$t")
` +
    `  if [ "$h" != "$sha" ]; then rm -f -- "$t"; printf '%s %s\n' "$p" "$h" >&2; exit ${VERIFY_FAILED_EXIT}; fi
` +
    `  chmod "$mode" -- "$t"; mv -f -- "$t" "$p"; echo "sent $p"
` +
    `}
`
  for (const f of files) s += `kl_install ${quote(f.shared)} ${quote(f.path)} ${checkSha256(f.sha256)} ${modeString(f.mode)}
`
  return s
}

/** Like the probe without the checksum: a fresh temp path next to `path`. */
export function tempFileScript(path: string): string {
  return `d=$(dirname -- ${quote(path)})\nmkdir -p -- "$d"\nmktemp -- "$d/.kubelab.XXXXXX"\n`
}

/** Verifies the temp file (when sha256 is given), sets mode/owner, renames it over `path`. */
export function finalizeScript(tmp: string, path: string, mode: number, owner?: string, sha256?: string): string {
  let s = `t=${quote(tmp)}\n`
  if (sha256) {
    s +=
      SHA256_FN +
      `h=$(kl_sha256 "$t")\n` +
      `if [ "$h" != ${checkSha256(sha256)} ]; then rm -f -- "$t"; printf '%s\\n' "$h"; exit ${VERIFY_FAILED_EXIT}; fi\n`
  }
  return s + permissions('"$t"', mode, owner) + `mv -f -- "$t" ${quote(path)}\n`
}

/** The exec string that streams stdin into `tmp` (quoted once, here). */
export function catToCommand(tmp: string, sudo: boolean): string {
  return `${sudo ? 'sudo -n ' : ''}sh -c ${quote('cat > "$1"')} sh ${quote(tmp)}`
}

export interface UploadJob extends UploadOptions {
  runner: Runner
  localFile: string
  remotePath: string
  sha256: string
}

/** Uploads to many nodes, at most `concurrency` transfers at once; results in job order. */
export function uploadAll(jobs: readonly UploadJob[], concurrency = 4): Promise<('skipped' | 'sent')[]> {
  return mapLimit(jobs, concurrency, (j) => j.runner.upload(j.localFile, j.remotePath, j.sha256, j))
}
