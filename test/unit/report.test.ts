// The top-level reporter and progress lines, captured through an injected sink.
import test from 'ava'
import { CommandError, PreflightError, StepError } from '../../scripts/lib/errors.ts'
import { Progress, formatDuration } from '../../scripts/lib/log/progress.ts'
import { errorToJson, formatError, tailLines } from '../../scripts/lib/log/report.ts'

const result = {
  node: 'worker-1',
  command: 'systemctl restart kubelet',
  exitCode: 1,
  signal: null,
  stdout: '',
  stderr: 'line a\nJob for kubelet.service failed because the control process exited with error code.\nline c\n',
  durationMs: 120,
}

test('a step error shows step, node, address, the command, exit code, error lines first, and the hint', (t) => {
  const err = new StepError('kubelet:config', 'worker-1', new CommandError(result), {
    address: '10.77.0.12',
    hint: 'kubelab ssh worker-1 -- journalctl -u kubelet',
  })
  t.is(formatError(err), [
    'ERROR [ERR_STEP] kubelet:config failed on worker-1 (10.77.0.12)',
    '  $ systemctl restart kubelet',
    '  exit code 1',
    '  Job for kubelet.service failed because the control process exited with error code.',
    '  line a',
    '  line c',
    '  hint: kubelab ssh worker-1 -- journalctl -u kubelet',
  ].join('\n'))
  const json = errorToJson(err)
  t.is(json.code, 'ERR_STEP')
  t.is((json.cause as { code: string }).code, 'ERR_COMMAND')
  t.is(err.cause instanceof CommandError, true, 'the cause chain is kept')
})

test('a killed command and a preflight failure are described plainly', (t) => {
  t.regex(formatError(new CommandError({ ...result, exitCode: null, signal: 'SIGKILL' })), /killed by SIGKILL/)
  const pre = new PreflightError('this host', [{ name: 'kvm', ok: false, detail: 'no /dev/kvm', fix: 'use provider nspawn' }])
  t.is(formatError(pre), 'ERROR [ERR_PREFLIGHT] preflight failed on this host: kvm\n  ✗ kvm: no /dev/kvm\n    fix: use provider nspawn')
})

test('tailLines keeps the last lines, error-looking first', (t) => {
  const text = Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n') + '\nfatal: boom\n'
  const tail = tailLines(text, 5)
  t.deepEqual(tail, ['fatal: boom', 'l16', 'l17', 'l18', 'l19'])
})

function sink(isTTY = false) {
  const chunks: string[] = []
  return { chunks, isTTY, write: (s: string) => chunks.push(s) }
}

test('progress: one line per step with duration; a failed step is marked and rethrown', async (t) => {
  let now = 0
  const s = sink()
  const p = new Progress({ sink: s, now: () => now })
  await p.step('Configuring kubelet', async () => { now += 4100; return 2 }, (n) => `3 nodes, ${n} changed`)
  await t.throwsAsync(p.step('Joining', async () => { now += 10; throw new Error('x') }), { message: 'x' })
  p.debug(1, 'hidden at verbosity 0')
  t.deepEqual(s.chunks, [' ✓ Configuring kubelet  3 nodes, 2 changed  4.1s\n', ' ✗ Joining  10ms\n'])
})

test('progress: a spinner only when interactive; verbosity gates debug lines', async (t) => {
  const tty = sink(true)
  const p = new Progress({ sink: tty, interactive: true, verbosity: 2 })
  await p.step('Waiting', async () => new Promise((r) => setTimeout(r, 200)))
  t.true(tty.chunks.some((c) => c.includes('⠋ Waiting')))
  p.debug(2, 'shown')
  p.debug(3, 'not shown')
  t.true(tty.chunks.at(-1)!.includes('shown'))
  t.false(tty.chunks.some((c) => c.includes('not shown')))
  t.false(new Progress({ sink: sink(false) }).interactive)
  t.is(formatDuration(125_000), '2m5s')
})
