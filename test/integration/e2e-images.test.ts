// The conformance test images built for real (the shared cache, as CI's other builds use it: a cold
// run builds agnhost/nnp from k8s.io/kubernetes and fetches ~80 .debs; each build's time is
// logged), imported by lib/images/import.ts into the containerd of a real nspawn node (one
// control plane + one worker, `up --until runtime:images`; containers run on the worker), and run there with `ctr run --net-host` (the node's own
// network namespace; every address is the node's loopback): agnhost's mounttest, netexec (HTTP
// through the image's own curl, UDP through its OpenBSD nc) and porter (plain and TLS with the
// image's /localhost.crt); nginx and httpd answer on :80; busybox runs applets with and without a
// shell. agnhost 2.55 is an alias of 2.59 at the same digest, both pinned for CRI; a second import
// changes nothing.
import test from 'ava'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { cacheDir } from '../../scripts/lib/artifacts/cache.ts'
import { hostArch } from '../../scripts/lib/artifacts/lock.ts'
import { resolveArtifacts } from '../../scripts/lib/artifacts/resolve.ts'
import { openCluster } from '../../scripts/lib/cluster.ts'
import { planImages } from '../../scripts/lib/conformance/images.ts'
import { loadConfig } from '../../scripts/lib/config/load.ts'
import { ensureE2eImage, parseRef, recipeFor, type BuiltImage } from '../../scripts/lib/images/e2e.ts'
import { importImages } from '../../scripts/lib/images/import.ts'
import { imageArtifact } from '../../scripts/lib/images/workloads.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import { closeNodes, openNodes } from '../../scripts/lib/node/open.ts'
import type { NodeHandle } from '../../scripts/lib/node/types.ts'
import { kubelab } from '../helpers/cli.ts'

const name = `kle2eimg${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-e2e-images-'))
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: path.join(work, 'state') }
writeFileSync(config, `name: ${name}\nprovider: {type: nspawn, network: 10.91.0.0/24}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n`)

const LIST = readFileSync(new URL('../fixtures/conformance/list-images-v1.35.4.txt', import.meta.url), 'utf8').split('\n').filter(Boolean)
const want = (n: string) => LIST.filter((r) => parseRef(r).name === `e2e-test-images/${n}`)
const HTTPD = 'registry.k8s.io/e2e-test-images/httpd:2.4.38-4' // Kubernetes 1.34's (1.35 has none)

let nodes: NodeHandle[] = []
test.after.always(async () => {
  closeNodes(nodes)
  await kubelab(['down', '-c', config], { env })
  rmSync(work, { recursive: true, force: true })
})

const images = new Map<string, BuiltImage>()
let node: NodeHandle

test.serial('agnhost, busybox, nginx and httpd build, and import on a real node (aliases by tag, a re-run imports nothing)', async (t) => {
  const progress = new Progress({})
  const loaded = loadConfig(config, { env: { ...process.env, ...env } })
  const cluster = openCluster(loaded, { env: { ...process.env, ...env }, progress })
  const coredns = imageArtifact(await resolveArtifacts(cluster.config, { progress }), 'coredns')
  const plan = planImages([...want('agnhost'), ...want('busybox'), ...want('nginx')])
  for (const [p, ref] of [...plan.images.map((p) => [p, p.primary] as const), [undefined, parseRef(HTTPD)] as const]) {
    const started = Date.now()
    const image = await ensureE2eImage(p?.recipe ?? recipeFor(ref.name)!, ref, { kubernetesVersion: cluster.config.kubernetes.version, cache: cacheDir(), arch: hostArch(), progress, ...(coredns ? { coredns } : {}) })
    const took = Date.now() - started
    t.log(`${ref.ref}: ${took >= image.buildMs ? `built in ${(image.buildMs / 1000).toFixed(1)}s` : `cached (${(took / 1000).toFixed(1)}s; built in ${(image.buildMs / 1000).toFixed(1)}s at ${image.builtAt})`}, ${image.sources.length} sources`)
    images.set(ref.name.split('/').pop()!, image)
  }

  const up = await kubelab(['up', '-c', config, '--until', 'runtime:images'], { env, timeoutMs: 300_000 })
  t.is(up.code, 0, up.stderr)
  nodes = await openNodes(cluster.config, await cluster.provider.list(), cluster.stateDir, progress)
  node = nodes.find((n) => n.spec.name === 'w1')!
  const items = [...plan.images.map((p) => ({ image: images.get(p.primary.name.split('/').pop()!)!, aliases: p.aliases })), { image: images.get('httpd')!, aliases: [] }]
  const started = Date.now()
  const first = await importImages({ nodes, items, progress })
  t.log(`import: ${((Date.now() - started) / 1000).toFixed(1)}s`)
  t.deepEqual(first.map((r) => r.failed.length), items.map(() => 0))
  t.deepEqual(first.map((r) => [...r.imported].sort()), items.map(() => ['cp', 'w1']))
  const listed = (await node.runner.$`ctr -n k8s.io images ls`).stdout
  const agnhost = images.get('agnhost')!
  for (const ref of want('agnhost')) t.regex(listed, new RegExp(`^${ref.replace(/[.]/g, '\\.')} .*${agnhost.digest}.*io\\.cri-containerd\\.pinned=pinned`, 'm'), `${ref} at agnhost's digest, pinned`)
  const cri = await node.runner.$`crictl inspecti -o json ${want('agnhost')[1]!}`
  t.regex(cri.stdout, /"pinned": true/, 'CRI reports it pinned: kubelet\'s image GC leaves it')
  const second = await importImages({ nodes, items, progress })
  t.deepEqual(second.map((r) => [...r.present].sort()), items.map(() => ['cp', 'w1']), 'second import: every image already there')
})

const ctr = (script: string) => node.runner.$({ nothrow: true, timeoutMs: 60_000 })`${['sh', '-c', script]}`
const runIn = async (ref: string, id: string, args: string) => ctr(`ctr -n k8s.io run --rm --net-host ${ref} ${id} ${args}`)
const start = async (ref: string, id: string, args = '', opts = '') => ctr(`ctr -n k8s.io run -d --net-host ${opts} ${ref} ${id} ${args}`)
const stop = (id: string) => ctr(`ctr -n k8s.io task kill -s KILL ${id} 2>/dev/null; sleep 0.5; ctr -n k8s.io task delete -f ${id} 2>/dev/null; ctr -n k8s.io container delete ${id} 2>/dev/null; true`)

/** Polls a client command in the agnhost image until it prints what is expected. */
async function until(id: string, script: string, expect: RegExp): Promise<string> {
  let out = ''
  for (let i = 0; i < 30; i++) {
    const r = await runIn(images.get('agnhost')!.ref, `${id}-${i}`, `sh -c '${script}'`)
    out = `${r.stdout}${r.stderr}`
    if (expect.test(r.stdout)) return r.stdout
    await new Promise((res) => setTimeout(res, 500))
  }
  return out
}

test.serial('agnhost runs mounttest, netexec (curl, OpenBSD nc) and porter (plain and TLS); its tools are there', async (t) => {
  if (!node) return t.fail('no node: the first test failed')
  const a = images.get('agnhost')!.ref
  const mount = await runIn(a, 'kl-mount', '/agnhost mounttest --file_content=/localhost.crt --file_perm=/localhost.crt')
  t.is(mount.exitCode, 0, mount.stderr)
  t.regex(mount.stdout, /content of file "\/localhost\.crt": -----BEGIN CERTIFICATE-----/)
  t.regex(mount.stdout, /perms of file "\/localhost\.crt": -rw-r--r--/)

  t.teardown(() => stop('kl-netexec'))
  t.is((await start(a, 'kl-netexec', '/agnhost netexec --http-port=18080 --udp-port=18081')).exitCode, 0)
  const http = await until('kl-curl', 'curl -g -q -s --max-time 2 "http://127.0.0.1:18080/echo?msg=kubelab-echo"', /kubelab-echo/)
  t.regex(http, /kubelab-echo/)
  const udp = await until('kl-nc', 'echo hostname | nc -w 1 -u 127.0.0.1 18081', /\S/)
  t.regex(udp, /\S/, 'netexec answers its UDP hostname request through nc -u')
  const tcp = await runIn(a, 'kl-nct', `sh -c 'echo hostName | nc -v -t -w 2 127.0.0.1 18080'`)
  t.regex(`${tcp.stdout}${tcp.stderr}`, /succeeded|HTTP\/1\.1 400/, 'OpenBSD nc -v -t connects')

  t.teardown(() => stop('kl-porter'))
  t.is((await start(a, 'kl-porter', '/agnhost porter', '--env SERVE_PORT_18090=porter-plain --env SERVE_TLS_PORT_18443=porter-tls')).exitCode, 0)
  t.regex(await until('kl-porter-c', 'curl -s --max-time 2 http://127.0.0.1:18090/', /porter-plain/), /porter-plain/)
  t.regex(await until('kl-porter-t', 'curl -sk --max-time 2 https://127.0.0.1:18443/', /porter-tls/), /porter-tls/)

  const tools = await runIn(a, 'kl-tools', `sh -c 'dig -v 2>&1; getent passwd user-defined-in-image; id user-defined-in-image; timeout 1 true && echo timeout-ok; ss -ltn | grep -c 18080; bash -c "echo bash-ok"; ls -l /agnhost-2 /localhost.key /uploads /coredns | wc -l'`)
  t.is(tools.exitCode, 0, tools.stderr)
  t.regex(tools.stdout, /DiG 9\./)
  t.regex(tools.stdout, /uid=1000\(user-defined-in-image\) gid=1000\(user-defined-in-image\) groups=1000\(user-defined-in-image\),50000\(group-defined-in-image\)/)
  t.regex(tools.stdout, /timeout-ok\n1\nbash-ok\n/)
})

test.serial('nginx and httpd serve on :80; busybox runs applets with and without a shell', async (t) => {
  if (!node) return t.fail('no node: the first test failed')
  for (const [img, id, expect] of [['nginx', 'kl-nginx', /Welcome to nginx/], ['httpd', 'kl-httpd', /It works!/]] as const) {
    t.teardown(() => stop(id))
    t.is((await start(images.get(img)!.ref, id)).exitCode, 0)
    t.regex(await until(`${id}-c`, 'curl -s --max-time 2 http://127.0.0.1:80/', expect), expect, `${img} on :80`)
    await stop(id)
  }
  const b = images.get('busybox')!.ref
  const sh = await runIn(b, 'kl-bb', `sh -c 'echo hello; id -u nobody; grep -c root /etc/group; /bin/sysctl -n kernel.ostype; wget --help 2>&1 | head -1'`)
  t.is(sh.exitCode, 0, sh.stderr)
  t.regex(sh.stdout, /^hello\n65534\n1\nLinux\nBusyBox/, 'applets in /bin, as upstream\'s image (tests run /bin/sysctl)')
  const direct = await runIn(b, 'kl-bb2', 'echo direct')
  t.is(direct.stdout, 'direct\n', direct.stderr)
})
