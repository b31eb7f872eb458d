// The addons on nspawn machines, one cluster for everything (CI time): 1 control plane + 2 workers
// in a lab network of their own (10.91.0.0/24), the default config's addons (coredns, storage,
// metricsServer, loadBalancer, ingress on). `up`, then the addons' smoke checks (the whole suite runs in the
// cluster e2e); `kubelab addons --json` says each is enabled, applied and ready; the README's
// LoadBalancer example (create, expose, curl 127.0.0.1:8080, delete: the port closes); a node's
// port mapping answering on the host across `up` runs; an Ingress routing two host names to two
// Services through 127.0.0.1:80; `kubectl top
// nodes` prints numbers; an HPA scales a CPU-bound Deployment up (bounded: at most 3) and back to
// 1; a StatefulSet's data kept across its pod's deletion and a restart of its worker machine;
// metricsServer and loadBalancer switched off: a re-run leaves no object of them (nor the
// APIService, MetalLB's CRDs or the host forwarder) behind.
import test from 'ava'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { stringify } from 'yaml'
import { hostGet } from '../../scripts/lib/addons/load-balancer/smoke.ts'
import { statefulSet } from '../../scripts/lib/addons/storage/smoke.ts'
import { TESTBOX_IMAGE } from '../../scripts/lib/images/workloads.ts'
import { kubelab } from '../helpers/cli.ts'

/** Polls `ok` every second until it holds, or fails naming `what`. */
async function until(ok: () => Promise<boolean>, ms: number, what: string | (() => Promise<string>)): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000}s waiting for ${typeof what === 'string' ? what : await what()}`)
    await new Promise((r) => setTimeout(r, 1_000))
  }
}

const name = `klad${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-addons-'))
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: path.join(work, 'state'), KUBELAB_EGRESS: 'off' }
const shape = (addons: object = {}) => JSON.stringify({
  name,
  provider: { type: 'nspawn', network: '10.91.0.0/24' },
  nodes: [
    { name: 'control-plane', role: 'control-plane' },
    // kind's extraPortMappings: 127.0.0.1:18081 on the host to node port 30081 of worker-1.
    { name: 'worker-1', role: 'worker', portMappings: [{ hostPort: 18081, port: 30081 }] },
    { name: 'worker-2', role: 'worker' },
  ],
  addons,
})
writeFileSync(config, shape())
const kubectl = (...args: string[]) => kubelab(['kubectl', '-c', config, '--', ...args], { env, timeoutMs: 240_000 })
const ssh = (node: string, cmd: string) => kubelab(['ssh', node, '-c', config, '--', cmd], { env, timeoutMs: 60_000 })

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env, timeoutMs: 300_000 })
  rmSync(work, { recursive: true, force: true })
})

// The whole suite (the addons' checks among the 19) runs in the cluster e2e's `up`; here the addons' checks alone.
test.serial('up with the default addons, then the addons\' smoke checks green (smoke --check storage-pvc,metrics-top,loadbalancer,ingress)', async (t) => {
  let started = Date.now()
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 1_500_000 })
  t.log(`up: ${Math.round((Date.now() - started) / 1000)} s`)
  t.log(up.stderr.split('\n').filter((l) => /addon|StorageClass|metrics-server/.test(l)).join('\n'))
  t.is(up.code, 0, up.stderr.split('\n').slice(-60).join('\n'))
  started = Date.now()
  const smoke = await kubelab(['smoke', '-c', config, '--check', 'storage-pvc,metrics-top,loadbalancer,ingress'], { env, timeoutMs: 600_000 })
  t.log(`smoke: ${Math.round((Date.now() - started) / 1000)} s`)
  t.log(smoke.stderr.split('\n').filter((l) => /✓|✗|smoke:/.test(l)).join('\n'))
  t.is(smoke.code, 0, smoke.stderr.split('\n').slice(-40).join('\n'))
  t.regex(smoke.stderr, /smoke: 4 passed, 0 failed/)
  t.regex(smoke.stderr, /✓ +14\. a PVC binds through the default StorageClass/)
  t.regex(smoke.stderr, /✓ +15\. kubectl top nodes and top pods answer/)
  t.regex(smoke.stderr, /✓ +16\. a LoadBalancer Service gets a pool address/)
  t.regex(smoke.stderr, /✓ +17\. an Ingress \(default class\) routes a host name/)
})

test.serial('kubelab addons --json: every default addon enabled, applied and ready; the registry off', async (t) => {
  const r = await kubelab(['addons', '-c', config, '--json'], { env, timeoutMs: 120_000 })
  t.is(r.code, 0, r.stderr)
  const rows = (JSON.parse(r.stdout) as { addons: { name: string; enabled: boolean; applied: boolean; ready: boolean; detail: string }[] }).addons
  t.log(rows.map((a) => `${a.name}: ${a.enabled}/${a.applied}/${a.ready} ${a.detail}`).join('\n'))
  for (const a of ['coredns', 'storage', 'metricsServer', 'loadBalancer', 'ingress']) t.like(rows.find((x) => x.name === a), { enabled: true, applied: true, ready: true }, a)
  t.like(rows.find((x) => x.name === 'registry'), { enabled: false, applied: false, ready: false })
})

type Status = { services: { namespace: string; name: string; port: number; address: string; hostAddress: string }[] }
const services = async () => (JSON.parse((await kubelab(['status', '-c', config, '--json'], { env, timeoutMs: 60_000 })).stdout) as Status).services

test.serial('the README\'s LoadBalancer: create, expose --type=LoadBalancer --port=8080, curl 127.0.0.1:8080 answers; deleted, the port closes', async (t) => {
  t.is((await kubectl('create', 'deployment', 'web', `--image=${TESTBOX_IMAGE}`, '--', '/bin/probe', 'serve', '--port', '8080')).code, 0)
  t.is((await kubectl('expose', 'deployment', 'web', '--type=LoadBalancer', '--port=8080')).code, 0)
  t.is((await kubectl('rollout', 'status', 'deployment/web', '--timeout=120s')).code, 0)
  let listed: Status['services'] = []
  await until(async () => (listed = (await services()).filter((s) => s.name === 'web')).length === 1, 60_000, async () => `web in status --json services (${JSON.stringify(await services())})`)
  t.log(JSON.stringify(listed))
  t.like(listed[0], { namespace: 'default', name: 'web', port: 8080, hostAddress: '127.0.0.1:8080' })
  t.regex(listed[0]!.address, /^10\.91\.0\.(22[4-9]|2[3-4]\d|25[0-4])$/)
  const ip = (await kubectl('get', 'svc', 'web', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}')).stdout
  t.is(ip, listed[0]!.address, 'status.loadBalancer.ingress shows the same address')
  let got = await hostGet(8080)
  await until(async () => (got = await hostGet(8080)).ok && /^web-/.test(got.text), 30_000, async () => `http://127.0.0.1:8080/ to answer (${got.text})`)
  t.regex(got.text, /^web-/)
  const text = await kubelab(['status', '-c', config], { env, timeoutMs: 60_000 })
  t.regex(text.stdout, new RegExp(`default/web\\s+8080\\s+${ip.replaceAll('.', '\\.')}\\s+127\\.0\\.0\\.1:8080`))
  t.is((await kubectl('delete', 'service', 'web', '--wait=true')).code, 0)
  await until(async () => (await services()).every((s) => s.name !== 'web') && !(await hostGet(8080, 2_000)).ok, 30_000, 'the forward of web to close')
})

test.serial('a port mapping in the config: 127.0.0.1:18081 reaches node port 30081 of worker-1, and still does after another up', async (t) => {
  t.is((await kubectl('create', 'service', 'nodeport', 'web', '--tcp=8080:8080', '--node-port=30081')).code, 0)
  let got = await hostGet(18081)
  await until(async () => (got = await hostGet(18081)).ok && /^web-/.test(got.text), 30_000, async () => `http://127.0.0.1:18081/ to answer (${got.text})`)
  const again = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 300_000 })
  t.is(again.code, 0, again.stderr.split('\n').slice(-20).join('\n'))
  t.regex(again.stderr, /Starting 3 nspawn machines {2}all reused, nothing changed/)
  t.regex((await hostGet(18081)).text, /^web-/)
  t.is((await kubectl('delete', 'service,deployment', 'web', '--wait=true')).code, 0)
})

test.serial('an Ingress routes two host names to two Services: curl -H Host: ... http://127.0.0.1/ from the host', async (t) => {
  const ns = 'addons-ingress'
  const docs: object[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]
  for (const app of ['alpha', 'beta']) {
    docs.push(
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: app, namespace: ns },
        spec: {
          replicas: 1, selector: { matchLabels: { app } },
          template: { metadata: { labels: { app } }, spec: { containers: [{ name: 'main', image: TESTBOX_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['/bin/probe', 'serve', '--port', '8080'] }] } },
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: app, namespace: ns }, spec: { selector: { app }, ports: [{ port: 80, targetPort: 8080 }] } },
    )
  }
  // No ingressClassName: the default class (Traefik's) takes it, as charts written for k3s expect.
  docs.push({
    apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'two-hosts', namespace: ns },
    spec: {
      rules: ['alpha', 'beta'].map((app) => ({ host: `${app}.local`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: app, port: { number: 80 } } } }] } })),
    },
  })
  const file = path.join(work, 'ingress.yaml')
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'))
  t.is((await kubectl('apply', '-f', file)).code, 0)
  for (const app of ['alpha', 'beta']) t.is((await kubectl('-n', ns, 'rollout', 'status', `deployment/${app}`, '--timeout=120s')).code, 0)
  const traefik = (await services()).find((s) => s.namespace === 'traefik' && s.name === 'traefik' && s.port === 80)
  t.is(traefik?.hostAddress, '127.0.0.1:80', 'Traefik\'s port 80 on the host\'s port 80')
  for (const app of ['alpha', 'beta']) {
    let got = await hostGet(80, 5_000, `${app}.local`)
    await until(async () => (got = await hostGet(80, 5_000, `${app}.local`)).ok && got.text.startsWith(`${app}-`), 30_000, async () => `http://127.0.0.1/ with Host ${app}.local to answer from ${app} (${got.text.slice(0, 80)})`)
    t.log(`Host ${app}.local -> ${got.text.trim()}`)
  }
  const unknown = await hostGet(80, 5_000, 'nobody.local')
  t.regex(unknown.text, /404 page not found/, 'a host no Ingress names: Traefik\'s 404')
  t.is((await kubectl('delete', 'namespace', ns, '--wait=true', '--timeout=120s')).code, 0)
})

test.serial('kubectl top nodes prints numbers for every node; kubelet TLS and metrics-server\'s own verified', async (t) => {
  // The suite's last checks restarted a worker: its kubelet needs a scrape or two before it has numbers again.
  const row = (node: string) => new RegExp(`^${node}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`, 'm')
  let top = await kubectl('top', 'nodes', '--no-headers')
  await until(async () => {
    top = await kubectl('top', 'nodes', '--no-headers')
    return top.code === 0 && ['control-plane', 'worker-1', 'worker-2'].every((n) => row(n).test(top.stdout))
  }, 120_000, async () => `numbers for every node in kubectl top nodes:\n${top.stdout}${top.stderr}`)
  t.log(top.stdout)
  const args = await kubectl('-n', 'kube-system', 'get', 'deployment', 'metrics-server', '-o', 'jsonpath={.spec.template.spec.containers[0].args}')
  t.regex(args.stdout, /--kubelet-certificate-authority=/)
  t.notRegex(args.stdout, /insecure/)
  // The API server verifies metrics-server too: caBundle set, no insecureSkipTLSVerify.
  const api = await kubectl('get', 'apiservice', 'v1beta1.metrics.k8s.io', '-o', 'json')
  const spec = (JSON.parse(api.stdout) as { spec: { caBundle?: string; insecureSkipTLSVerify?: boolean } }).spec
  t.regex(Buffer.from(spec.caBundle ?? '', 'base64').toString(), /BEGIN CERTIFICATE/)
  t.falsy(spec.insecureSkipTLSVerify)
})

test.serial('an HPA scales a CPU-bound Deployment up (1 -> 2..3 replicas) and back to 1 when the load stops', async (t) => {
  const ns = 'addons-hpa'
  const burn = 'trap "exit 0" TERM; while :; do :; done'
  const idle = 'trap "exit 0" TERM; sleep 86400 & wait'
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'burn', namespace: ns },
      spec: {
        replicas: 1, selector: { matchLabels: { app: 'burn' } },
        template: {
          metadata: { labels: { app: 'burn' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            // 20m requested, at most 50m used: a busy pod is at 250 % of its request.
            containers: [{ name: 'main', image: TESTBOX_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', burn], resources: { requests: { cpu: '20m' }, limits: { cpu: '50m' } } }],
          },
        },
      },
    },
    {
      apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'burn', namespace: ns },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'burn' },
        minReplicas: 1, maxReplicas: 3,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
        // No stabilization windows: a test has no time for the 5 minutes a scale-down waits by default.
        behavior: {
          scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 2, periodSeconds: 15 }] },
          scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
        },
      },
    },
  ]
  const file = path.join(work, 'hpa.yaml')
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'))
  t.is((await kubectl('apply', '-f', file)).code, 0)
  const replicas = async () => Number((await kubectl('-n', ns, 'get', 'deployment', 'burn', '-o', 'jsonpath={.spec.replicas}')).stdout || 0)
  const hpaLine = async () => (await kubectl('-n', ns, 'get', 'hpa', 'burn', '--no-headers')).stdout.trim()
  let started = Date.now()
  await until(async () => (await replicas()) >= 2, 240_000, async () => `the HPA to scale burn up (${await hpaLine()})`)
  t.log(`scaled up to ${await replicas()} in ${Math.round((Date.now() - started) / 1000)} s: ${await hpaLine()}`)
  t.true((await replicas()) <= 3)
  // The load stops: the pods are replaced by idle ones.
  t.is((await kubectl('-n', ns, 'patch', 'deployment', 'burn', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/command', value: ['sh', '-c', idle] }]))).code, 0)
  started = Date.now()
  await until(async () => (await replicas()) === 1, 300_000, async () => `the HPA to scale burn back to 1 (${await hpaLine()})`)
  t.log(`back to 1 in ${Math.round((Date.now() - started) / 1000)} s: ${await hpaLine()}`)
  t.is((await kubectl('delete', 'namespace', ns, '--wait=true', '--timeout=120s')).code, 0)
})

test.serial('a StatefulSet\'s data is kept across its pod\'s deletion and a restart of its worker machine', async (t) => {
  const ns = 'addons-e2e'
  const manifest = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, statefulSet(ns, 'db', TESTBOX_IMAGE)].map((d) => stringify(d)).join('---\n')
  const manifestFile = path.join(work, 'db.yaml')
  writeFileSync(manifestFile, manifest)
  t.is((await kubectl('apply', '-f', manifestFile)).code, 0)
  const ready = async () => {
    const r = await kubectl('-n', ns, 'wait', '--for=condition=Ready', 'pod/db-0', '--timeout=120s')
    t.is(r.code, 0, r.stderr)
  }
  await until(async () => (await kubectl('-n', ns, 'get', 'pod', 'db-0')).code === 0, 60_000, 'pod db-0 created')
  await ready()
  const pvc = await kubectl('-n', ns, 'get', 'pvc', 'data-db-0', '-o', 'jsonpath={.status.phase} {.spec.storageClassName}')
  t.is(pvc.stdout, 'Bound local-path')
  const node = (await kubectl('-n', ns, 'get', 'pod', 'db-0', '-o', 'jsonpath={.spec.nodeName}')).stdout
  t.regex(node, /^worker-[12]$/)
  t.is((await kubectl('-n', ns, 'exec', 'db-0', '--', 'sh', '-c', 'echo kept-across-restarts > /data/token')).code, 0)
  // The pod deleted: the StatefulSet's next pod has the same volume.
  t.is((await kubectl('-n', ns, 'delete', 'pod', 'db-0', '--wait=true')).code, 0)
  await until(async () => (await kubectl('-n', ns, 'get', 'pod', 'db-0')).code === 0, 60_000, 'pod db-0 re-created')
  await ready()
  t.is((await kubectl('-n', ns, 'exec', 'db-0', '--', 'cat', '/data/token')).stdout.trim(), 'kept-across-restarts')
  // Its node's machine restarted: the machine ends on reboot, `up` starts it again.
  await ssh(node, 'systemctl reboot')
  // `status` may fail while the machine goes down: only a listed, non-running machine counts.
  const machineState = async () => {
    const s = await kubelab(['status', '-c', config, '--json'], { env, timeoutMs: 60_000 })
    try {
      return (JSON.parse(s.stdout) as { machines?: { name: string; state: string }[] }).machines?.find((m) => m.name === node)?.state ?? 'unknown'
    } catch {
      return 'unknown'
    }
  }
  await until(async () => !['running', 'unknown'].includes(await machineState()), 90_000, `${node}'s machine to stop`)
  const again = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 900_000 })
  t.is(again.code, 0, again.stderr.split('\n').slice(-40).join('\n'))
  await until(async () => (await kubectl('-n', ns, 'get', 'pod', 'db-0', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')).stdout === 'True', 240_000, 'pod db-0 Ready after the restart')
  t.is((await kubectl('-n', ns, 'exec', 'db-0', '--', 'cat', '/data/token')).stdout.trim(), 'kept-across-restarts')
  t.is((await kubectl('-n', ns, 'get', 'pod', 'db-0', '-o', 'jsonpath={.spec.nodeName}')).stdout, node, 'the volume pins the pod to its node')
  t.is((await kubectl('delete', 'namespace', ns, '--wait=true', '--timeout=120s')).code, 0)
})

test.serial('metricsServer and loadBalancer switched off: a re-run removes every object of them, the APIService, CRDs and host forwarder too', async (t) => {
  writeFileSync(config, shape({ metricsServer: false, loadBalancer: { enabled: false } }))
  const up = await kubelab(['up', '-c', config, '--no-smoke'], { env, timeoutMs: 900_000 })
  t.is(up.code, 0, up.stderr.split('\n').slice(-40).join('\n'))
  const left = await kubectl('get', 'apiservice,deployment,service,serviceaccount,clusterrole,clusterrolebinding,rolebinding', '-A', '-l', 'kubelab.io/addon=metricsServer', '-o', 'name')
  t.is(left.code, 0, left.stderr)
  t.is(left.stdout.trim(), '')
  t.is((await kubectl('get', 'apiservice', 'v1beta1.metrics.k8s.io', '--ignore-not-found', '-o', 'name')).stdout.trim(), '')
  t.is((await kubectl('get', 'clusterrole', 'system:metrics-server', '--ignore-not-found', '-o', 'name')).stdout.trim(), '')
  // Discovery is clean (a stale APIService would make every kubectl warn), and `top` says why it cannot.
  const top = await kubectl('top', 'nodes')
  t.not(top.code, 0)
  const rows = (JSON.parse((await kubelab(['addons', '-c', config, '--json'], { env, timeoutMs: 120_000 })).stdout) as { addons: { name: string; enabled: boolean; applied: boolean }[] }).addons
  t.like(rows.find((x) => x.name === 'metricsServer'), { enabled: false, applied: false })
  t.like(rows.find((x) => x.name === 'loadBalancer'), { enabled: false, applied: false })
  t.like(rows.find((x) => x.name === 'ingress'), { enabled: false, applied: false }, 'ingress follows the load balancer off')
  t.like(rows.find((x) => x.name === 'storage'), { enabled: true, applied: true })
  // MetalLB: its CRDs (and with them every pool), webhook and namespace gone; no forwarder left on the host.
  const lb = await kubectl('get', 'customresourcedefinition,validatingwebhookconfiguration,namespace,clusterrole', '-l', 'kubelab.io/addon=loadBalancer', '-o', 'name')
  t.is(lb.code, 0, lb.stderr)
  t.is(lb.stdout.trim(), '')
  t.is((await kubectl('get', 'crd', 'ipaddresspools.metallb.io', '--ignore-not-found', '-o', 'name')).stdout.trim(), '')
  t.deepEqual(await services(), [])
  t.false(existsSync(path.join(env.KUBELAB_STATE, name, 'services')), 'the forwarder\'s record removed')
})
