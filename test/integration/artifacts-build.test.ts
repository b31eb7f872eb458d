// `kubelab artifacts build` against the real host cache (KUBELAB_CACHE unset -> ~/.cache/kubelab),
// where the default set was built from Go modules once. Building it from nothing takes most of an
// hour on 2 cores, so without that cache the test is skipped unless KUBELAB_TEST_BUILD=1.
import test from 'ava'
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { kubelab } from '../helpers/cli.ts'

const cache = path.join(process.env.HOME ?? os.homedir(), '.cache', 'kubelab')
const prebuilt = existsSync(path.join(cache, 'build', 'kubernetes-v1.35.4-amd64', 'kubelet'))
const run = prebuilt || process.env.KUBELAB_TEST_BUILD === '1' ? test.serial : test.skip

interface BuildJson {
  cache: string
  builds: { build: string; version: string; action: string; dir: string; files: Record<string, { sha256: string; size: number; versionOutput: string | null }> }[]
}

run('artifacts build: every component of the default config is built and reported with its version', async (t) => {
  const r = await kubelab(['artifacts', 'build', '--json'], { env: { HOME: path.dirname(path.dirname(cache)) } })
  t.is(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout) as BuildJson
  t.is(out.cache, cache)
  t.deepEqual(out.builds.map((b) => `${b.build} ${b.version}`), [
    'kubernetes v1.35.4', 'containerd v2.2.9', 'runc v1.3.7', 'cni-plugins v1.9.1', 'crictl v1.34.0', 'etcd v3.6.16', 'coredns v1.14.7',
    'kube-router v2.1.0', // network.policy (on by default)
    'local-path-provisioner v0.0.30', 'metrics-server v0.8.0', // addons.storage, addons.metricsServer (on by default)
    'metallb v0.15.2', 'traefik v3.6.12', // addons.loadBalancer, addons.ingress (on by default with nspawn)
  ])
  const files = Object.fromEntries(out.builds.flatMap((b) => Object.entries(b.files).map(([name, f]) => [name, { ...f, dir: b.dir }])))
  t.deepEqual(Object.keys(files).sort(), [
    'bridge', 'containerd', 'containerd-shim-runc-v2', 'coredns', 'crictl', 'ctr', 'etcd', 'etcdctl', 'host-local',
    'kube-apiserver', 'kube-controller-manager', 'kube-proxy', 'kube-router', 'kube-scheduler', 'kubectl', 'kubelet', 'local-path-provisioner', 'loopback',
    'metrics-server', 'portmap', 'runc', 'speaker', 'traefik',
  ].concat('controller').sort())
  for (const [name, f] of Object.entries(files)) {
    t.regex(f.sha256, /^[0-9a-f]{64}$/, name)
    t.truthy(f.versionOutput, `${name} reports a version`)
    t.true(existsSync(path.join(f.dir, name)), name)
  }
  t.is(files.kubelet!.versionOutput, 'Kubernetes v1.35.4')
  t.is(files['kube-apiserver']!.versionOutput, 'Kubernetes v1.35.4')
  t.is(files.kubectl!.versionOutput, 'Client Version: v1.35.4')
  t.regex(files.containerd!.versionOutput!, /v2\.2\.9/)
  t.regex(files.runc!.versionOutput!, /runc version 1\.3\.7/)
  t.regex(files.etcd!.versionOutput!, /3\.6\.16/)
  t.regex(files.crictl!.versionOutput!, /1\.34\.0/)
  t.regex(files.bridge!.versionOutput!, /v1\.9\.1/)
  t.regex(files.coredns!.versionOutput!, /1\.14\.7/)
  t.regex(files['kube-router']!.versionOutput!, /v2\.1\.0/)
  t.regex(files['local-path-provisioner']!.versionOutput!, /v0\.0\.30/)
  t.regex(files['metrics-server']!.versionOutput!, /v0\.8\.0/)
  // No version flag: the module version Go stamped in (go version -m).
  t.is(files.controller!.versionOutput, 'go.universe.tf/metallb v0.15.2')
  t.is(files.speaker!.versionOutput, 'go.universe.tf/metallb v0.15.2')
  t.regex(files.traefik!.versionOutput!, /v3\.6\.12/)
})

run('artifacts build: a second run builds nothing and says so; list finds everything', async (t) => {
  const env = { HOME: path.dirname(path.dirname(cache)) }
  const again = await kubelab(['artifacts', 'build'], { env })
  t.is(again.code, 0, again.stderr)
  t.regex(again.stderr, /nothing to build: 12 components up to date/)
  t.notRegex(again.stderr, /Building /)
  const json = await kubelab(['artifacts', 'build', '--json'], { env })
  t.true((JSON.parse(json.stdout) as BuildJson).builds.every((b) => b.action === 'up-to-date'))
  const list = await kubelab(['artifacts', 'list', '--json'], { env })
  t.is(list.code, 0, list.stderr)
  const rows = (JSON.parse(list.stdout) as { artifacts: { file: string; status: string; origin: string }[] }).artifacts
  t.is(rows.length, 24)
  t.true(rows.every((x) => x.status === 'cached'), JSON.stringify(rows.filter((x) => x.status !== 'cached')))
})
