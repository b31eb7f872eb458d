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

test('steps inside each other and side by side: each its own heartbeat and reason; nothing after they end', async (t) => {
  const { out, sink: s } = sink(false)
  const p = new Progress({ sink: s, interactive: false, heartbeatMs: 20 })
  const machines = p.step('Starting 3 machines', () => sleep(70))
  await p.step('Resolving binaries', () => p.step('Building kubernetes', async () => {
    p.status('compiling kubelet')
    await sleep(70)
  }))
  await machines
  const beats = (title: string) => out.filter((l) => l.startsWith(`   … ${title}: still running`))
  t.true(beats('Starting 3 machines').length >= 1 && beats('Resolving binaries').length >= 1 && beats('Building kubernetes').length >= 1, out.join(''))
  t.true(beats('Building kubernetes').every((l) => l.includes('(compiling kubelet)')))
  t.false(beats('Starting 3 machines').some((l) => l.includes('compiling')), 'the reason belongs to the step that gave it')
  const n = out.length
  await sleep(60)
  t.is(out.length, n, 'no heartbeat once every step is done')
})

test('interactive, nested: the live line shows the inner step, then the outer again; cleared at the end', async (t) => {
  const { out, sink: s } = sink(true)
  const p = new Progress({ sink: s, interactive: true })
  await p.step('Outer', async () => {
    await p.step('Inner', () => sleep(120))
    await sleep(120)
  })
  const live = out.filter((l) => l.startsWith('\r\x1b[2K '))
  const firstOuterAfterInner = live.findIndex((l, i) => i > live.findIndex((x) => x.includes(' Inner ')) && l.includes(' Outer '))
  t.true(firstOuterAfterInner > 0, JSON.stringify(live.slice(0, 6)))
  const n = out.length
  await sleep(200)
  t.is(out.length, n, 'the live line stops with the last step')
})
