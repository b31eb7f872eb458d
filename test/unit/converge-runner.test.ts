// The step runner (converge/runner.ts) with fake steps on fake nodes: what starts when (same-node
// `after`, cluster-wide conditions, control-plane members one at a time, nothing else waits),
// progress lines in list order, every failure reported as one StepError while waits elsewhere are
// cancelled, check-after-apply, `only`, `when`; and the step list's own consistency.
import test from 'ava'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import type { ClusterConfig } from '../../scripts/lib/config/types.ts'
import { converge } from '../../scripts/lib/converge/runner.ts'
import { listProblems, targets, type Step } from '../../scripts/lib/converge/step.ts'
import { waitFor } from '../../scripts/lib/converge/wait.ts'
import { StepError } from '../../scripts/lib/errors.ts'
import { STEPS } from '../../scripts/lib/steps/index.ts'
import { fakeContext } from '../helpers/fake-runner.ts'

const cluster = (workers: string[] = ['w1', 'w2']): ClusterConfig => parseConfig(
  `name: t\nprovider: {type: nspawn}\nnodes:\n  - {name: cp, role: control-plane}\n${workers.map((w) => `  - {name: ${w}, role: worker}\n`).join('')}`,
  { file: '/x/c.yaml', env: {} },
).config

/** Two control-plane members (validation refuses them today; the runner must still take them one at a time). */
function twoControlPlanes(): ClusterConfig {
  const c = cluster(['w1', 'w2'])
  const [cp, a, b] = c.nodes as [ClusterConfig['nodes'][number], ClusterConfig['nodes'][number], ClusterConfig['nodes'][number]]
  return { ...c, nodes: [{ ...cp, name: 'cp1' }, { ...a, name: 'cp2', role: 'control-plane' }, { ...b, name: 'w1' }] }
}

interface FakeStepOptions extends Partial<Omit<Step, 'id' | 'check' | 'apply'>> {
  /** Nodes where the step is already converged. */
  done?: string[]
  /** Nodes where apply throws. */
  fails?: string[]
  /** apply returns without converging anything (check stays false). */
  noop?: boolean
  /** Nodes where apply waits with converge/wait.ts for something that never comes. */
  waitsForever?: string[]
}

/** Fake steps recording `start id@node` (first check) and `end id@node` (apply returned); apply waits for its gate if one is set. */
function harness() {
  const events: string[] = []
  const gates = new Map<string, { promise: Promise<void>; open: () => void }>()
  const gate = (...keys: string[]) => {
    for (const k of keys) {
      let open!: () => void
      const promise = new Promise<void>((r) => (open = r))
      gates.set(k, { promise, open })
    }
  }
  const open = (...keys: string[]) => keys.forEach((k) => gates.get(k)!.open())
  const step = (id: string, o: FakeStepOptions = {}): Step => {
    const converged = new Set(o.done ?? [])
    const { done: _d, fails, noop, waitsForever, ...decl } = o
    return {
      id,
      title: `T ${id}`,
      on: 'all',
      ...decl,
      async check(_ctx, node) {
        const k = `${id}@${node.spec.name}`
        if (!events.includes(`start ${k}`)) events.push(`start ${k}`)
        return converged.has(node.spec.name)
      },
      async apply(ctx, node) {
        const k = `${id}@${node.spec.name}`
        if (waitsForever?.includes(node.spec.name)) {
          events.push(`waiting ${k}`)
          await waitFor('something that never comes', { timeoutMs: 60_000, everyMs: 20, signal: ctx.signal }, async () => 'not yet')
        }
        await gates.get(k)?.promise
        if (fails?.includes(node.spec.name)) {
          events.push(`fail ${k}`)
          throw new Error(`${id} broke on ${node.spec.name}`)
        }
        if (!noop) converged.add(node.spec.name)
        events.push(`end ${k}`)
      },
    }
  }
  const at = (e: string) => {
    const i = events.indexOf(e)
    if (i < 0) throw new Error(`no event "${e}" in: ${events.join(', ')}`)
    return i
  }
  /** Resolves once every event has happened (fails the test after 5 s). */
  const reached = async (...want: string[]) => {
    for (let i = 0; i < 500 && !want.every((w) => events.includes(w)); i++) await new Promise((r) => setTimeout(r, 10))
    if (!want.every((w) => events.includes(w))) throw new Error(`never reached ${want.join(', ')}; events: ${events.join(', ')}`)
  }
  return { events, gate, open, step, at, reached }
}

/** Lets every task that can move, move. */
const settle = () => new Promise((r) => setTimeout(r, 50))

test('progress: one line per step in list order, though a later step finishes first', async (t) => {
  const h = harness()
  const { ctx, lines } = fakeContext(cluster())
  h.gate('slow@cp')
  const run = converge(ctx, [h.step('slow', { done: ['w2'] }), h.step('fast', { on: 'workers' }), h.step('kept', { done: ['cp', 'w1', 'w2'] })])
  await h.reached('end fast@w1', 'end fast@w2', 'start kept@cp', 'start kept@w2', 'end slow@w1')
  t.deepEqual(lines(), [], 'nothing printed while the first step still runs on cp')
  h.open('slow@cp')
  const outcomes = await run
  t.deepEqual(lines(), [' ✓ T slow  3 nodes, 2 changed', ' ✓ T fast  2 nodes, 2 changed', ' ✓ T kept  3 nodes, unchanged'])
  t.is(outcomes.length, 8)
  t.deepEqual(outcomes.filter((o) => !o.changed).map((o) => `${o.step}@${o.node}`).sort(), ['kept@cp', 'kept@w1', 'kept@w2', 'slow@w2'])
})

test("graph: a worker's step with no dependencies runs while a control-plane-only step is still running", async (t) => {
  const h = harness()
  const { ctx } = fakeContext(cluster())
  h.gate('cp-only@cp')
  const run = converge(ctx, [h.step('cp-only', { on: 'control-plane' }), h.step('work', { on: 'workers' })])
  await h.reached('end work@w1', 'end work@w2')
  t.false(h.events.includes('end cp-only@cp'))
  h.open('cp-only@cp')
  await run
  t.true(h.at('end work@w2') < h.at('end cp-only@cp'))
})

test('graph: a step waiting for a condition starts only once every node of the establishing step is done', async (t) => {
  const h = harness()
  const { ctx } = fakeContext(cluster())
  h.gate('serve@cp', 'serve@w1', 'serve@w2')
  const run = converge(ctx, [h.step('serve', { establishes: 'api:serving' }), h.step('use', { on: 'workers', waitsFor: ['api:serving'] })])
  h.open('serve@cp', 'serve@w1')
  await h.reached('end serve@cp', 'end serve@w1')
  await settle()
  t.false(h.events.some((e) => e.startsWith('start use@')), h.events.join(', '))
  h.open('serve@w2')
  await run
  t.true(h.at('start use@w1') > h.at('end serve@w2'))
  t.true(h.at('start use@w2') > h.at('end serve@w2'))
})

test('graph: a controlPlaneFirst step starts on workers once the control plane has done it', async (t) => {
  const h = harness()
  const { ctx } = fakeContext(cluster())
  h.gate('upload@cp')
  const run = converge(ctx, [h.step('upload', { controlPlaneFirst: true }), h.step('other', { on: 'workers' })])
  await h.reached('start upload@cp', 'end other@w1', 'end other@w2')
  await settle()
  t.false(h.events.some((e) => e === 'start upload@w1' || e === 'start upload@w2'), h.events.join(', '))
  h.open('upload@cp')
  await run
  t.true(h.at('start upload@w1') > h.at('end upload@cp'))
  t.true(h.at('start upload@w2') > h.at('end upload@cp'))
})

test('graph: `after` orders steps on the same node only', async (t) => {
  const h = harness()
  const { ctx } = fakeContext(cluster())
  h.gate('a@w1')
  const run = converge(ctx, [h.step('a'), h.step('b', { after: ['a'] })])
  await h.reached('end b@cp', 'end b@w2')
  t.false(h.events.includes('start b@w1'), 'b waits for a on w1 only')
  h.open('a@w1')
  await run
  for (const n of ['cp', 'w1', 'w2']) t.true(h.at(`start b@${n}`) > h.at(`end a@${n}`), n)
})

test('graph: a control-plane step runs on one member at a time, in config order', async (t) => {
  const h = harness()
  const { ctx } = fakeContext(twoControlPlanes())
  h.gate('member@cp1')
  const run = converge(ctx, [h.step('member', { on: 'control-plane' }), h.step('work', { on: 'workers' })])
  await h.reached('start member@cp1', 'end work@w1')
  await settle()
  t.false(h.events.includes('start member@cp2'), h.events.join(', '))
  h.open('member@cp1')
  await run
  t.true(h.at('start member@cp2') > h.at('end member@cp1'))
})

test('failures: every failing node is reported in one StepError; a wait elsewhere is cancelled, not reported', async (t) => {
  const h = harness()
  const { ctx, lines } = fakeContext(cluster())
  h.gate('bad@w1', 'bad@w2')
  const started = Date.now()
  const run = converge(ctx, [
    h.step('wait', { on: 'control-plane', waitsForever: ['cp'] }),
    h.step('bad', { on: 'workers', fails: ['w1', 'w2'] }),
    h.step('later', { on: 'workers', after: ['bad'] }),
  ])
  await h.reached('waiting wait@cp', 'start bad@w1', 'start bad@w2')
  h.open('bad@w1', 'bad@w2')
  const err = await t.throwsAsync(run, { instanceOf: StepError })
  t.true(Date.now() - started < 5_000, 'the wait ended with the run, not at its timeout')
  t.is(err.step, 'bad')
  t.is(err.node, 'w1')
  t.regex(err.message, /^bad failed on w1 \(\S+\); also failed: bad on w2$/)
  t.deepEqual(err.alsoFailed.map((e) => `${e.step}@${e.node}`), ['bad@w2'])
  t.regex((err.cause as Error).message, /bad broke on w1/)
  t.false(h.events.some((e) => e.startsWith('start later@')), 'nothing after a failure starts')
  t.deepEqual(lines(), [' ✗ T wait  (cp stopped)', ' ✗ T bad  (w1 failed, w2 failed)'])
})

test('failures: after one, nothing new starts anywhere; what was running finishes and gets its line', async (t) => {
  const h = harness()
  const { ctx, lines } = fakeContext(cluster(['w1']))
  h.gate('slow@w1', 'bad@cp')
  const run = converge(ctx, [h.step('bad', { on: 'control-plane', fails: ['cp'] }), h.step('slow', { on: 'workers' }), h.step('next', { on: 'workers', after: ['slow'] })])
  await h.reached('start slow@w1', 'start bad@cp')
  h.open('bad@cp')
  await h.reached('fail bad@cp')
  h.open('slow@w1')
  const err = await t.throwsAsync(run, { instanceOf: StepError })
  t.deepEqual([err.step, err.node, err.alsoFailed.length], ['bad', 'cp', 0])
  t.true(h.events.includes('end slow@w1'))
  t.false(h.events.includes('start next@w1'), 'independent of the failure, but started after it: not run')
  t.deepEqual(lines(), [' ✗ T bad  (cp failed)', ' ✓ T slow  1 node, 1 changed'])
})

test('failures: the line of a step that failed nowhere but did not finish everywhere names where it stopped or never ran', async (t) => {
  const h = harness()
  const { ctx, lines } = fakeContext(cluster(['w1', 'w2', 'w3']))
  h.gate('bad@cp', 'prep@w2')
  const run = converge(ctx, [
    h.step('bad', { on: 'control-plane', fails: ['cp'] }),
    h.step('prep', { on: 'workers' }),
    h.step('x', { on: 'workers', after: ['prep'], waitsForever: ['w1'] }),
  ])
  await h.reached('waiting x@w1', 'end x@w3', 'start bad@cp')
  h.open('bad@cp')
  await h.reached('fail bad@cp')
  h.open('prep@w2')
  const err = await t.throwsAsync(run, { instanceOf: StepError })
  t.deepEqual([err.step, err.node, err.alsoFailed.length], ['bad', 'cp', 0])
  t.false(h.events.includes('start x@w2'))
  t.deepEqual(lines(), [' ✗ T bad  (cp failed)', ' ✓ T prep  3 nodes, 3 changed', ' ✗ T x  (w3 ok, w1 stopped, w2 not run)'])
})

test('check after apply: an apply that does not make check true fails the step', async (t) => {
  const h = harness()
  const { ctx } = fakeContext(cluster(['w1']))
  const err = await t.throwsAsync(converge(ctx, [h.step('stuck', { on: 'workers', noop: true })]), { instanceOf: StepError })
  t.is(err.node, 'w1')
  t.regex((err.cause as Error).message, /stuck is still not converged after apply/)
})

test('only: other nodes count as done without running; lines count only the chosen nodes', async (t) => {
  const h = harness()
  const { ctx, lines } = fakeContext(cluster())
  const outcomes = await converge(ctx, [h.step('a'), h.step('cp-only', { on: 'control-plane', establishes: 'api:serving' }), h.step('b', { waitsFor: ['api:serving'], after: ['a'] })], { only: ['w1'] })
  t.deepEqual(h.events.filter((e) => !e.endsWith('@w1')), [])
  t.deepEqual(outcomes.map((o) => `${o.step}@${o.node}`), ['a@w1', 'b@w1'])
  t.deepEqual(lines(), [' ✓ T a  1 node, 1 changed', ' ✓ T b  1 node, 1 changed'])
})

test('when: a step that does not exist for the config is skipped everywhere, and what comes after it still runs', async (t) => {
  const h = harness()
  const { ctx, lines } = fakeContext(cluster())
  const absent = h.step('absent', { when: (c) => c.controlPlane.mode === 'external', establishes: 'join:token' })
  t.deepEqual(targets(absent, ctx.config), [])
  await converge(ctx, [absent, h.step('next', { after: ['absent'], waitsFor: ['join:token'] })])
  t.false(h.events.some((e) => e.includes('absent@')))
  t.deepEqual(lines(), [' ✓ T next  3 nodes, 3 changed'])
})

test('conditions: one that no step establishes holds from the start', async (t) => {
  const h = harness()
  const { ctx } = fakeContext(cluster())
  h.gate('slow@cp')
  const run = converge(ctx, [h.step('slow', { on: 'control-plane' }), h.step('join', { on: 'workers', waitsFor: ['join:token', 'csr:signing'] })])
  await h.reached('end join@w1', 'end join@w2')
  h.open('slow@cp')
  await run
  t.pass()
})

test('listProblems: the real step list has none', (t) => {
  t.deepEqual(listProblems(STEPS), [])
})

test('listProblems: an `after` pointing forward, an unestablished condition and a duplicate id are named', (t) => {
  const h = harness()
  t.deepEqual(listProblems([
    h.step('a', { after: ['b'], waitsFor: ['api:serving'] }),
    h.step('b', { establishes: 'api:serving' }),
    h.step('c', { waitsFor: ['join:token'] }),
    h.step('b'),
  ]), [
    'a: after "b", which is not an earlier step',
    'a: waits for "api:serving", which no earlier step establishes',
    'c: waits for "join:token", which no earlier step establishes',
    'b: listed twice',
  ])
})
