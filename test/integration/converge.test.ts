// The converge steps that have landed (os:prep, artifacts:upload, runtime:containerd, runtime:images) on real
// nspawn machines through the CLI: first run changes every node; a re-run changes nothing and
// restarts nothing; drift (a removed binary, an edited config) is repaired on that node only.
import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { kubelab } from '../helpers/cli.ts'

const name = `klconv${process.pid}`
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-converge-'))
const config = path.join(work, 'cluster.config.yaml')
const env = { KUBELAB_STATE: path.join(work, 'state') }
writeFileSync(config, `name: ${name}\nprovider: {type: nspawn, network: 10.82.0.0/24}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n`)
const ssh = (node: string, cmd: string) => kubelab(['ssh', node, '-c', config, '--', cmd], { env })
const mainPid = async (node: string) => (await ssh(node, 'systemctl show -p MainPID --value containerd')).stdout.trim()
const up = (...extra: string[]) => kubelab(['up', '-c', config, '--until', 'runtime:images', ...extra], { env, timeoutMs: 180_000 })

test.after.always(async () => {
  await kubelab(['down', '-c', config], { env })
  rmSync(work, { recursive: true, force: true })
})

test.serial('first up converges every node: containerd, runc and the CNI plugins run from the verified binaries', async (t) => {
  const r = await up()
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /✓ Preparing the OS .* 2 nodes, 2 changed/)
  t.regex(r.stderr, /✓ Uploading verified binaries {2}2 nodes, 2 changed/)
  t.regex(r.stderr, /✓ Installing containerd, runc and CNI plugins {2}2 nodes, 2 changed/)
  for (const node of ['cp', 'w1']) {
    const v = await ssh(node, 'ctr version | grep -m1 Version; runc --version | head -1; ls /opt/cni/bin | tr "\\n" " "; sysctl -n net.ipv4.ip_forward')
    t.is(v.code, 0, v.stderr)
    t.regex(v.stdout, /Version: +v2\.2\.9\nrunc version 1\.3\.7\nbridge host-local loopback portmap 1\n/)
  }
  const images = await ssh('w1', 'ctr -n k8s.io images ls -q')
  t.regex(images.stdout, /^registry\.k8s\.io\/pause:3\.10\.1$/m, 'the sandbox image is imported under the pinned name')
  t.regex(r.stderr, /✓ Importing the sandbox image \(pause\) {2}2 nodes, 2 changed/)
  // CRI end to end: a pod sandbox (the imported pause image, runc, the bridge CNI) gets an IP
  // from the node's own pod CIDR.
  const sandbox = await ssh('w1', [
    `printf '%s' '{"metadata":{"name":"t","namespace":"default","uid":"u1"},"log_directory":"/tmp","linux":{"cgroup_parent":"kubelabtest.slice"}}' > /tmp/pod.json`,
    'id=$(crictl runp /tmp/pod.json 2>/dev/null) && crictl inspectp "$id" 2>/dev/null | grep -m1 \'"ip"\'; crictl stopp "$id" >/dev/null 2>&1; crictl rmp "$id" >/dev/null 2>&1',
  ].join('; '))
  t.regex(sandbox.stdout, /"ip": "10\.244\.1\.\d+"/, sandbox.stderr)
  const cpOnly = await ssh('w1', 'test -e /usr/local/bin/kube-apiserver && echo yes || echo no')
  t.is(cpOnly.stdout.trim(), 'no', 'control-plane binaries only go to the control plane')
})

test.serial('a re-run changes nothing and restarts nothing', async (t) => {
  const before = [await mainPid('cp'), await mainPid('w1')]
  const r = await up()
  t.is(r.code, 0, r.stderr)
  // os:prep, os:resolver, artifacts:upload, runtime:containerd, runtime:registries, runtime:images
  t.is((r.stderr.match(/2 nodes, unchanged/g) ?? []).length, 6, r.stderr)
  t.deepEqual([await mainPid('cp'), await mainPid('w1')], before)
})

test.serial('drift is repaired on the node that drifted, and only there', async (t) => {
  const before = [await mainPid('cp'), await mainPid('w1')]
  t.is((await ssh('w1', 'rm /usr/local/bin/ctr && echo "# edited" >> /etc/containerd/config.toml')).code, 0)
  const r = await up()
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /✓ Uploading verified binaries {2}2 nodes, 1 changed/)
  t.regex(r.stderr, /✓ Installing containerd, runc and CNI plugins {2}2 nodes, 1 changed/)
  t.is(await mainPid('cp'), before[0]!, 'cp untouched')
  t.not(await mainPid('w1'), before[1]!, 'w1 restarted for its restored config')
  t.is((await ssh('w1', 'grep -c edited /etc/containerd/config.toml || true')).stdout.trim(), '0')
})

test.serial('--until stops after the named step; an unknown step is a usage error', async (t) => {
  const r = await kubelab(['up', '-c', config, '--until', 'os:prep'], { env, timeoutMs: 180_000 })
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /✓ Preparing the OS/)
  t.notRegex(r.stderr, /Uploading verified binaries/)
  const bad = await kubelab(['up', '-c', config, '--until', 'nope'], { env })
  t.is(bad.code, 2)
  t.regex(bad.stderr, /--until: no step "nope"/)
})
