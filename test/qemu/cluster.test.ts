// The default shape on real VMs: `provider: qemu` (KVM where usable, TCG here), 1 control plane +
// 2 workers, `up` -> every node Ready -> the smoke suite green -> `down`. Slow under TCG, so it runs
// with `npm run test:e2e:qemu`, not in `npm test`; its measured time is in docs/benchmarks.md. A
// failed `up` leaves its logs bundle outside the state folder the test removes, and says where.
import test from 'ava'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { kubelab } from '../helpers/cli.ts'
import { ROOT } from '../helpers/paths.ts'

const name = `klqemu${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-qemu-e2e-'))
const config = path.join(work, 'cluster.config.yaml')
// TCG boots three VMs at once slowly on 2 cores: give the boot its time.
const env = { KUBELAB_STATE: path.join(work, 'state'), KUBELAB_BOOT_TIMEOUT: '900' }
const base = parse(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8')) as Record<string, unknown>
writeFileSync(config, JSON.stringify({ ...base, name, provider: { type: 'qemu', network: '10.92.0.0/24' } }))

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env, timeoutMs: 300_000 })
  rmSync(work, { recursive: true, force: true })
})

test.serial('qemu: up -> 3 nodes Ready -> 20 smoke checks green', async (t) => {
  const started = Date.now()
  const up = await kubelab(['up', '-c', config], { env, timeoutMs: 3_600_000 })
  const seconds = ((Date.now() - started) / 1000).toFixed(0)
  t.log(`up (machines, cluster, smoke) took ${seconds}s`)
  const logs = path.join(work, 'state', name, 'logs')
  if (up.code !== 0 && existsSync(logs)) {
    const kept = mkdtempSync(path.join(tmpdir(), 'kubelab-qemu-e2e-logs-'))
    cpSync(logs, kept, { recursive: true })
    t.log(`up failed: its logs bundle is kept in ${kept}`)
  }
  t.is(up.code, 0, up.stderr)
  t.regex(up.stderr, /smoke: 20 passed, 0 failed/)
  const nodes = await kubelab(['kubectl', '-c', config, '--', 'get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], { env })
  t.is(nodes.stdout.trim(), ['control-plane True', 'worker-1 True', 'worker-2 True'].join('\n'))
  const timings = JSON.parse(readFileSync(path.join(work, 'state', name, 'timings.json'), 'utf8')) as { entries: { phase: string; node?: string; offsetMs: number; durationMs: number }[] }
  const ready = Math.max(...timings.entries.filter((e) => e.phase === 'node:ready').map((e) => e.offsetMs + e.durationMs))
  t.log(`time to every node Ready: ${(ready / 1000).toFixed(0)}s`)
})
