// The whole `up` on nspawn machines with binaries built from Go modules: the default shape (1
// control plane + 2 workers) comes up with every node Ready at the configured version; a second
// `up` changes no step and restarts nothing (kubelet and containerd keep their PIDs); kubectl works
// from this host through the loopback forward; `down` removes it all.
import test from 'ava'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { kubelab } from '../helpers/cli.ts'
import { ROOT } from '../helpers/paths.ts'

const name = `kle2e${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-e2e-'))
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: path.join(work, 'state') }
// The repo's default config, as its own cluster on its own lab network.
const base = parse(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8')) as Record<string, unknown>
writeFileSync(config, JSON.stringify({ ...base, name, provider: { type: 'nspawn', network: '10.83.0.0/24' } }))
const ssh = (node: string, cmd: string) => kubelab(['ssh', node, '-c', config, '--', cmd], { env })
const pids = async (node: string) => (await ssh(node, 'systemctl show -p MainPID --value kubelet containerd')).stdout.trim()

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env })
  rmSync(work, { recursive: true, force: true })
})

test.serial('up: 1 control plane + 2 workers, every node Ready at the configured version', async (t) => {
  const started = Date.now()
  const up = await kubelab(['up', '-c', config], { env, timeoutMs: 600_000 })
  t.is(up.code, 0, up.stderr)
  t.log(`up took ${((Date.now() - started) / 1000).toFixed(1)}s`)
  const nodes = await kubelab(['kubectl', '-c', config, '--', 'get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], { env })
  t.is(nodes.code, 0, nodes.stderr)
  t.is(nodes.stdout.trim(), ['control-plane v1.35.4 True', 'worker-1 v1.35.4 True', 'worker-2 v1.35.4 True'].join('\n'))
})

test.serial('a second up changes nothing and restarts nothing', async (t) => {
  const before = await Promise.all(['control-plane', 'worker-1', 'worker-2'].map(pids))
  const again = await kubelab(['up', '-c', config], { env, timeoutMs: 300_000 })
  t.is(again.code, 0, again.stderr)
  t.notRegex(again.stderr, /\d+ changed/, again.stderr)
  t.deepEqual(await Promise.all(['control-plane', 'worker-1', 'worker-2'].map(pids)), before)
})
