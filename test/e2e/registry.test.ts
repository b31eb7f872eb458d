// The local registry (addons.registry) and registries: on nspawn machines (1 control plane + 2
// workers, own lab network): the host pushes an image with a real client (skopeo) to
// 127.0.0.1:PORT; a Deployment pulling localhost:PORT/app:1 with imagePullPolicy Always on both
// workers becomes Available (containerd found the mapping in certs.d, written after it started,
// so no restart was needed); adding a registries: entry and running `up` again writes its
// hosts.toml and restarts nothing (containerd, kubelet and the pods keep their PIDs and UIDs);
// after a worker restarts, the pods pull again and the Deployment is Available.
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { OTHER_ADDONS_OFF } from '../helpers/addons.ts'
import { kubelab } from '../helpers/cli.ts'

const run = promisify(execFile)
const name = `klreg${process.pid}`
const port = 5087 // not kind's 5001: other labs on this host may use that
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-registry-'))
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: path.join(work, 'state'), KUBELAB_EGRESS: 'off' }
const shape = (registries?: Record<string, unknown>) => ({
  name,
  provider: { type: 'nspawn', network: '10.87.0.0/24' },
  addons: { ...OTHER_ADDONS_OFF, registry: { enabled: true, port } },
  ...(registries ? { registries } : {}),
  nodes: [
    { name: 'control-plane', role: 'control-plane' },
    { name: 'worker-1', role: 'worker' },
    { name: 'worker-2', role: 'worker' },
  ],
})
writeFileSync(config, JSON.stringify(shape()))
const ssh = (node: string, cmd: string) => kubelab(['ssh', node, '-c', config, '--', cmd], { env })
const kubectl = (...args: string[]) => kubelab(['kubectl', '-c', config, '--', ...args], { env, timeoutMs: 240_000 })
const pids = async (node: string) => {
  const r = await ssh(node, 'systemctl show -p MainPID --value kubelet containerd')
  if (r.code !== 0) throw new Error(`kubelab ssh ${node} failed (${r.code}): ${r.stderr}`)
  return r.stdout.trim()
}
/** name, node, uid, restarts and container id of every app pod. */
const appPods = async () => {
  const r = await kubectl('get', 'pods', '-l', 'app=regapp', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.metadata.uid} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].containerID}{"\\n"}{end}')
  if (r.code !== 0) throw new Error(r.stderr)
  return r.stdout.trim().split('\n').sort()
}
const available = () => kubectl('wait', '--for=condition=Available', '--timeout=180s', 'deployment/regapp')

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'regapp', namespace: 'default' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'regapp' } },
    template: {
      metadata: { labels: { app: 'regapp' } },
      spec: {
        // One pod on each worker (the control plane is tainted).
        affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'regapp' } }, topologyKey: 'kubernetes.io/hostname' }] } },
        containers: [{ name: 'app', image: `localhost:${port}/app:1`, imagePullPolicy: 'Always' }],
      },
    },
  },
}

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env, timeoutMs: 300_000 })
  rmSync(work, { recursive: true, force: true })
})

test.serial('up with addons.registry: the registry serves on the control plane and the host forward', async (t) => {
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 900_000 })
  t.is(up.code, 0, up.stderr)
  t.regex((await ssh('control-plane', 'systemctl is-active kubelab-registry')).stdout, /^active/)
  for (const node of ['control-plane', 'worker-1', 'worker-2']) {
    const r = await ssh(node, `cat '/etc/containerd/certs.d/localhost:${port}/hosts.toml'`)
    t.regex(r.stdout, /\[host\."http:\/\/10\.87\.0\.11:5000"\]/, `${node}: ${r.stderr}`)
  }
  const res = await fetch(`http://127.0.0.1:${port}/v2/`)
  t.is(res.status, 200)
})

test.serial('the host pushes with skopeo; a Deployment pulling localhost:PORT/app:1 (Always) on both workers is Available', async (t) => {
  const images = path.join(process.env.KUBELAB_CACHE ?? path.join(homedir(), '.cache', 'kubelab'), 'images')
  const tar = readdirSync(images).find((f) => f.startsWith('testbox') && f.endsWith('.tar'))
  t.truthy(tar, `no testbox OCI tar in ${images}`)
  const push = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci-archive:${path.join(images, tar!)}`, `docker://localhost:${port}/app:1`])
  t.log(push.stdout.trim().split('\n').at(-1))
  const tags = await (await fetch(`http://127.0.0.1:${port}/v2/app/tags/list`)).json() as { tags: string[] }
  t.deepEqual(tags.tags, ['1'])
  const manifest = path.join(work, 'regapp.json')
  writeFileSync(manifest, JSON.stringify(deployment))
  const apply = await kubelab(['kubectl', '-c', config, '--', 'apply', '-f', manifest], { env })
  t.is(apply.code, 0, apply.stderr)
  const ok = await available()
  t.is(ok.code, 0, `${ok.stderr}\n${(await kubectl('describe', 'pods', '-l', 'app=regapp')).stdout}`)
  t.deepEqual((await appPods()).map((l) => l.split(' ')[1]).sort(), ['worker-1', 'worker-2'])
})

test.serial('a registries change and a re-run restart nothing: containerd, kubelet and the pods are kept', async (t) => {
  const nodes = ['control-plane', 'worker-1', 'worker-2']
  const before = await Promise.all(nodes.map(pids))
  const podsBefore = await appPods()
  writeFileSync(config, JSON.stringify(shape({ 'mirror.kubelab.invalid:5000': { insecure: true } })))
  const changed = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 300_000 })
  t.is(changed.code, 0, changed.stderr)
  t.regex(changed.stderr, /Configuring registries/)
  t.regex((await ssh('worker-2', "cat '/etc/containerd/certs.d/mirror.kubelab.invalid:5000/hosts.toml'")).stdout, /server = "http:\/\/mirror\.kubelab\.invalid:5000"/)
  const again = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 300_000 })
  t.is(again.code, 0, again.stderr)
  t.notRegex(again.stderr, /\d+ changed/, again.stderr)
  t.deepEqual(await Promise.all(nodes.map(pids)), before)
  t.deepEqual(await appPods(), podsBefore)
})

test.serial('after a worker restarts, its pod pulls from the registry again and the Deployment is Available', async (t) => {
  const onWorker1 = (pods: string[]) => pods.find((l) => l.split(' ')[1] === 'worker-1')?.split(' ')[4]
  const containerBefore = onWorker1(await appPods())
  t.truthy(containerBefore)
  const bootBefore = (await ssh('worker-1', 'cat /proc/sys/kernel/random/boot_id; systemctl show -p ActiveEnterTimestampMonotonic --value kubelet')).stdout
  await ssh('worker-1', 'systemctl poweroff')
  // The machine is down once its SSH stops answering; `up` starts it again on the same disk.
  for (let i = 0; i < 60 && (await ssh('worker-1', 'true')).code === 0; i++) await new Promise((r) => setTimeout(r, 1000))
  // ...and its machine process has ended: until then the provider still lists it as running.
  const state = async () => {
    const r = await kubelab(['status', '-c', config, '--json'], { env })
    if (r.code !== 0) return 'running' // status could not read it yet: keep waiting
    return (JSON.parse(r.stdout || '{}') as { machines?: { name: string; state: string }[] }).machines?.find((m) => m.name === 'worker-1')?.state
  }
  for (let i = 0; i < 90 && (await state()) === 'running'; i++) await new Promise((r) => setTimeout(r, 1000))
  t.not(await state(), 'running', 'worker-1 powered off')
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 600_000 })
  t.is(up.code, 0, up.stderr)
  const ok = await available()
  t.is(ok.code, 0, ok.stderr)
  const pods = await appPods()
  t.deepEqual(pods.map((l) => l.split(' ')[1]).sort(), ['worker-1', 'worker-2'])
  // worker-1 really restarted (kubelet started anew) and runs a new container, pulled again (Always).
  t.not((await ssh('worker-1', 'cat /proc/sys/kernel/random/boot_id; systemctl show -p ActiveEnterTimestampMonotonic --value kubelet')).stdout, bootBefore)
  t.not(onWorker1(pods), containerBefore)
  const events = await kubectl('get', 'events', '--field-selector', 'reason=Pulled', '-o', 'jsonpath={range .items[*]}{.message}{"\\n"}{end}')
  t.regex(events.stdout, new RegExp(`localhost:${port}/app:1`))
  // The registry kept its data: the tag is still there.
  t.deepEqual((await (await fetch(`http://127.0.0.1:${port}/v2/app/tags/list`)).json() as { tags: string[] }).tags, ['1'])
})
