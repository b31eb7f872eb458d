// log/progress.ts: a step that runs long says so: a live line with elapsed time and estimate on a
// TTY, a line per heartbeat elsewhere (CI, log files), the live reason in both.
import test from 'ava'
import { setTimeout as sleep } from 'node:timers/promises'
import { Progress } from '../../scripts/lib/log/progress.ts'

const sink = (isTTY: boolean) => {
  const out: string[] = []
  return { out, sink: { isTTY, write: (t: string) => out.push(t) } }
}

test('not interactive: a line per heartbeat while the step runs, with the estimate and the live reason; none after it', async (t) => {
  const { out, sink: s } = sink(false)
  const p = new Progress({ sink: s, interactive: false, heartbeatMs: 25 })
  await p.step('Building kubernetes v1.35.4 (amd64) from Go modules', async () => {
    p.status('compiling kubelet kube-proxy')
    await sleep(90)
  }, undefined, { estimateMs: 370_000 })
  const beats = out.filter((l) => l.includes('still running'))
  t.true(beats.length >= 2, out.join(''))
  t.regex(beats[0]!, /^ {3}… Building kubernetes v1\.35\.4 \(amd64\) from Go modules: still running, \d+ms of about 6m10s \(compiling kubelet kube-proxy\)\n$/)
  t.regex(out.at(-1)!, /^ ✓ Building kubernetes/)
  const n = out.length
  await sleep(60)
  t.is(out.length, n, 'no heartbeat once the step is done')
  t.false(out.join('').includes('\r'), 'no terminal control characters in a log')
})

test('interactive: the live line shows the elapsed time, the estimate and the reason', async (t) => {
  const { out, sink: s } = sink(true)
  const p = new Progress({ sink: s, interactive: true })
  await p.step('Importing images', async () => {
    p.status('worker-1: 2 of 3')
    await sleep(200)
  }, undefined, { estimateMs: 5000 })
  const live = out.filter((l) => l.startsWith('\r\x1b[2K ') && l.includes('Importing images'))
  t.true(live.some((l) => /Importing images {2}\d+ms of about 5\.0s {2}\(worker-1: 2 of 3\)/.test(l)), JSON.stringify(live.slice(-3)))
})
