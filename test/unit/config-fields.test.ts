// Field types (scripts/lib/config/fields.ts): a table of bad values per field type that reaches a
// script, a unit file or a command line, each with its message and file:line:col. None of them
// may load; each is reported once, at its own position.
import test from 'ava'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { hostProblem, imageRefProblem, ipv4Problem, labelKeyProblem, labelValueProblem, urlProblem } from '../../scripts/lib/config/fields.ts'
import { ConfigError } from '../../scripts/lib/errors.ts'
import { formatLocation } from '../../scripts/lib/log/report.ts'

/** An ssh cluster whose worker gets `w1` (indented lines of its own) and the document `top`. */
const ssh = (w1: string, top = '') =>
  `${top}provider: {type: ssh}\nnodes:\n  - {name: cp, role: control-plane, address: 10.0.0.10}\n  - name: w1\n    role: worker\n    address: 10.0.0.11\n${w1}`
/** A made-machines cluster (nspawn) with `top` first. */
const lab = (top: string, w1 = '') => `${top}provider: {type: nspawn}\nnodes:\n  - {name: cp, role: control-plane}\n  - name: w1\n    role: worker\n${w1}`
const external = (endpoint: string) =>
  `controlPlane:\n  mode: external\n  endpoint: "${endpoint}"\n  tokenEnv: JOIN_TOKEN\n  caCertHash: sha256:${'a'.repeat(64)}\nnodes:\n  - {name: w1, role: worker}\n`

interface Case {
  field: string
  value: string
  yaml: string
  path: string
  message: RegExp
  /** line:col of the offending value (or key). */
  at: string
}

const cases: Case[] = [
  // IPv4 and hosts: addresses go into `ip route ... via` and `--node-ip=`.
  { field: 'ssh address', value: 'leading zero', yaml: ssh('').replace('address: 10.0.0.11', 'address: 10.0.0.012'), path: 'nodes[1].address', message: /without leading zeros \(iproute2 reads 010 as octal 8\); got "10\.0\.0\.012"/, at: '6:14' },
  { field: 'ssh address', value: 'octet > 255', yaml: ssh('').replace('address: 10.0.0.11', 'address: 10.0.0.256'), path: 'nodes[1].address', message: /must be an IPv4 address such as 10\.0\.0\.10; got "10\.0\.0\.256"/, at: '6:14' },
  { field: 'ssh address', value: 'shell text', yaml: ssh('').replace('address: 10.0.0.11', 'address: "10.0.0.11; touch /tmp/x"'), path: 'nodes[1].address', message: /must be an IPv4 address or a DNS name/, at: '6:14' },
  { field: 'ssh address', value: 'newline + unit directive', yaml: ssh('').replace('address: 10.0.0.11', 'address: "10.0.0.11\\nExecStartPre=/bin/sh -c id"'), path: 'nodes[1].address', message: /must be an IPv4 address or a DNS name/, at: '6:14' },
  { field: 'ssh address', value: 'all-digit last label', yaml: ssh('').replace('address: 10.0.0.11', 'address: host.123'), path: 'nodes[1].address', message: /IPv4 address or a DNS name \(lowercase letters, digits, - and \.\); got "host\.123"/, at: '6:14' },
  { field: 'lab address', value: 'leading zero', yaml: lab('', '    address: 10.77.0.012\n'), path: 'nodes[1].address', message: /must be an IPv4 address in provider\.network 10\.77\.0\.0\/24; got "10\.77\.0\.012"/, at: '6:14' },
  { field: 'CIDR', value: 'leading zero', yaml: lab('kubernetes: {clusterCIDR: 10.244.00.0/16}\n'), path: 'kubernetes.clusterCIDR', message: /no leading zeros\); got "10\.244\.00\.0\/16"/, at: '1:27' },
  { field: 'bastion host', value: 'an option', yaml: ssh('', 'ssh: {bastion: {host: "-oProxyCommand=id"}}\n'), path: 'ssh.bastion.host', message: /must be an IPv4 address or a DNS name.*; got "-oProxyCommand=id"/, at: '1:23' },
  { field: 'bastion host', value: 'a space', yaml: ssh('', 'ssh: {bastion: {host: "jump host"}}\n'), path: 'ssh.bastion.host', message: /IPv4 address or a DNS name/, at: '1:23' },
  { field: 'ssh user', value: 'shell text', yaml: ssh('', 'ssh: {user: "root;id"}\n'), path: 'ssh.user', message: /must be a user name/, at: '1:13' },
  // Labels and taints: they become `kubectl label` arguments and KubeletConfiguration.
  { field: 'label key', value: '--kubeconfig', yaml: ssh('    labels: {--kubeconfig: x}\n'), path: 'nodes[1].labels.--kubeconfig', message: /must be a Kubernetes label key.*got "--kubeconfig"/, at: '7:14' },
  { field: 'label key', value: 'two slashes', yaml: ssh('    labels: {a/b/c: x}\n'), path: 'nodes[1].labels.a/b/c', message: /label key/, at: '7:14' },
  { field: 'label key', value: 'name of 64', yaml: ssh(`    labels: {${'k'.repeat(64)}: x}\n`), path: `nodes[1].labels.${'k'.repeat(64)}`, message: /the name at most 63/, at: '7:14' },
  { field: 'label key', value: 'uppercase prefix', yaml: ssh('    labels: {Example.com/tier: x}\n'), path: 'nodes[1].labels.Example.com/tier', message: /label key/, at: '7:14' },
  { field: 'label value', value: 'a space', yaml: ssh('    labels: {tier: "a b"}\n'), path: 'nodes[1].labels.tier', message: /must be a Kubernetes label value.*got "a b"/, at: '7:20' },
  { field: 'label value', value: 'leading -', yaml: ssh('    labels: {tier: "-x"}\n'), path: 'nodes[1].labels.tier', message: /label value/, at: '7:20' },
  { field: 'taint', value: 'key like a flag', yaml: ssh('    taints: ["--kubeconfig=x:NoSchedule"]\n'), path: 'nodes[1].taints[0]', message: /taint must have a Kubernetes label key/, at: '7:14' },
  { field: 'taint', value: 'value with a leading -', yaml: ssh('    taints: ["k=-v:NoSchedule"]\n'), path: 'nodes[1].taints[0]', message: /taint must have a Kubernetes label value/, at: '7:14' },
  // URLs: endpoint, mirrors, images.
  { field: 'endpoint', value: 'user info', yaml: external('https://admin:pw@10.0.0.10:6443'), path: 'controlPlane.endpoint', message: /must have no user info/, at: '3:13' },
  { field: 'endpoint', value: 'port 99999', yaml: external('https://10.0.0.10:99999'), path: 'controlPlane.endpoint', message: /must have a port from 1 to 65535; got "https:\/\/10\.0\.0\.10:99999"/, at: '3:13' },
  { field: 'endpoint', value: 'port 0', yaml: external('https://10.0.0.10:0'), path: 'controlPlane.endpoint', message: /port from 1 to 65535/, at: '3:13' },
  { field: 'endpoint', value: 'host with a leading zero', yaml: external('https://10.0.0.010:6443'), path: 'controlPlane.endpoint', message: /host that is an IPv4 address or a DNS name/, at: '3:13' },
  { field: 'artifacts.mirror', value: 'port 99999', yaml: lab('artifacts: {source: mirror, mirror: "https://m.example:99999/k"}\n'), path: 'artifacts.mirror', message: /port from 1 to 65535/, at: '1:37' },
  { field: 'artifacts.mirror', value: 'an option', yaml: lab('artifacts: {source: mirror, mirror: "-rf"}\n'), path: 'artifacts.mirror', message: /must be a directory or an http\(s\) URL/, at: '1:37' },
  { field: 'artifacts.mirror', value: 'ftp', yaml: lab('artifacts: {source: mirror, mirror: "ftp://m.example/k"}\n'), path: 'artifacts.mirror', message: /must be a http:\/\/ or https:\/\/ URL/, at: '1:37' },
  { field: 'debianMirror', value: 'no scheme', yaml: `provider: {type: nspawn, debianMirror: deb.example.com/debian}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n`, path: 'provider.debianMirror', message: /must be a URL such as http:\/\/deb\.example\.com\/debian/, at: '1:40' },
  { field: 'registry mirror', value: 'user info', yaml: lab('registries:\n  docker.io: {mirrors: ["https://u:p@m.example"]}\n'), path: 'registries.docker.io.mirrors[0]', message: /no user info/, at: '2:25' },
  { field: 'registry host', value: 'port 99999', yaml: lab('registries:\n  registry.example.com:99999: {insecure: true}\n'), path: 'registries.registry.example.com:99999', message: /must be a registry host.*port 1-65535\); got "registry\.example\.com:99999"/, at: '2:3' },
  { field: 'registry host', value: 'empty label', yaml: lab('registries:\n  registry..example.com: {insecure: true}\n'), path: 'registries.registry..example.com', message: /must be a registry host/, at: '2:3' },
  { field: 'qemu image url', value: 'file URL', yaml: `provider:\n  type: qemu\n  qemu: {image: {url: "file:///etc/passwd", sha256: ${'a'.repeat(64)}}}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n`, path: 'provider.qemu.image.url', message: /must be a http:\/\/ or https:\/\/ URL/, at: '3:23' },
  { field: 'smoke.image', value: 'uppercase', yaml: lab('smoke: {image: "Busybox:1.36"}\n'), path: 'smoke.image', message: /must be an image reference/, at: '1:16' },
  { field: 'smoke.image', value: 'shell text', yaml: lab('smoke: {image: "busybox; rm -rf /"}\n'), path: 'smoke.image', message: /image reference/, at: '1:16' },
  { field: 'multipass image', value: 'an option', yaml: `provider: {type: multipass, multipass: {image: "--help"}}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n`, path: 'provider.multipass.image', message: /must be a multipass image/, at: '1:48' },
  // Amounts and versions.
  { field: 'memory', value: 'rounds to 0', yaml: lab('', '    memory: 0.4Mi\n'), path: 'nodes[1].memory', message: /must be at least 256MiB.*got "0\.4Mi"/, at: '6:13' },
  { field: 'memory', value: 'too small', yaml: lab('', '    memory: 100MiB\n'), path: 'nodes[1].memory', message: /at least 256MiB/, at: '6:13' },
  { field: 'kubernetes.version', value: 'not in the lock', yaml: lab('kubernetes: {version: v1.35.1}\n'), path: 'kubernetes.version', message: /must be a version the versions lock pins \(v1\.35\.4, v1\.34\.4; versions\.lock\.yaml\); got "v1\.35\.1"/, at: '1:23' },
]

for (const c of cases) {
  test(`${c.field}: ${c.value} is refused at ${c.at}`, (t) => {
    const err = t.throws(() => parseConfig(c.yaml, { file: '/x/c.yaml', display: 'c.yaml', env: { JOIN_TOKEN: 'abcdef.0123456789abcdef' } }), { instanceOf: ConfigError }, c.yaml)
    const issues = err!.issues.map((i) => `${formatLocation(i.location)} ${i.path}: ${i.message}`)
    t.is(err!.issues.length, 1, issues.join('\n'))
    t.is(err!.issues[0]!.path, c.path)
    t.regex(err!.issues[0]!.message, c.message)
    t.is(formatLocation(err!.issues[0]!.location), `c.yaml:${c.at}`)
  })
}

test('good values of each type pass', (t) => {
  for (const ip of ['0.0.0.0', '10.0.0.10', '255.255.255.255', '192.168.100.1']) t.is(ipv4Problem(ip), undefined, ip)
  for (const h of ['10.0.0.10', 'node-1', 'node-1.lab.example', 'localhost']) t.is(hostProblem(h), undefined, h)
  for (const k of ['tier', 'example.com/tier', 'node-role.kubernetes.io/worker', 'a_b.c-d', 'K8s']) t.is(labelKeyProblem(k), undefined, k)
  for (const v of ['', 'x', 'a.b_c-d', 'v'.repeat(63)]) t.is(labelValueProblem(v), undefined, v)
  for (const r of ['busybox', 'busybox:1.36', 'registry.example.com:5000/kubelab/testbox:1.0', 'localhost:5001/app:1', `ghcr.io/x/y@sha256:${'a'.repeat(64)}`]) {
    t.is(imageRefProblem(r), undefined, r)
  }
  const https = { schemes: ['https'], path: false, example: 'https://x' }
  for (const u of ['https://10.0.0.10:6443', 'https://cp.example:6443/', 'https://cp.example', 'https://CP.Example:1']) t.is(urlProblem(u, https), undefined, u)
})

test('a config with every field type good loads, and values are kept as written', (t) => {
  const yaml = ssh('    labels: {example.com/tier: front, zone: ""}\n    taints: ["dedicated=gpu:NoSchedule"]\n', 'ssh: {user: debian, bastion: {host: jump.lab.example}}\nsmoke: {image: "registry.example.com:5000/kubelab/testbox:1.0"}\n')
  const { config } = parseConfig(yaml, { file: '/x/c.yaml', env: {} })
  t.deepEqual(config.nodes[1]!.labels, { 'example.com/tier': 'front', zone: '' })
  t.is(config.ssh.bastion!.host, 'jump.lab.example')
})
