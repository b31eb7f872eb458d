// Golden files for every installed file (text templates and data-built files), and proofs that
// rendering is strict: no unresolved placeholder anywhere, no template outside the table.
// Regenerate goldens after an intended change with: UPDATE_GOLDEN=1 npx ava test/unit/templates.test.ts
import test from 'ava'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { TemplateError } from '../../scripts/lib/errors.ts'
import { cniConflist, containerdConfig, crictlConfig, hostsToml, hostsTomlPath, kubeletConfig, kubeProxyConfig, parseTaint, registryHostsSpecs } from '../../scripts/lib/templates/files.ts'
import { proxyDropIn } from '../../scripts/lib/egress/proxy.ts'
import { machineResolvConf } from '../../scripts/lib/egress/upstream.ts'
import { registryFiles } from '../../scripts/lib/steps/runtime-registries.ts'
import { placeholders, readTemplate, renderTemplate, renderText, TEMPLATE_DIR } from '../../scripts/lib/templates/render.ts'
import { INSTALLED_FILES, type InstalledFileName } from '../../scripts/lib/templates/table.ts'
import { FIXTURES, ROOT } from '../helpers/paths.ts'

const GOLDEN = path.join(FIXTURES, 'golden')
const values = JSON.parse(readFileSync(path.join(GOLDEN, 'values.json'), 'utf8')) as Record<string, Record<string, string>>
const { config } = parseConfig(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8'), { file: 'cluster.config.yaml', env: {} })
// Egress on, through a proxy, with configured resolvers (nothing read from this host).
const egress = parseConfig(readFileSync(path.join(ROOT, 'cluster.config.yaml'), 'utf8'), {
  file: 'cluster.config.yaml', env: { KUBELAB_DNS: '198.51.100.53,198.51.100.54', HTTPS_PROXY: 'http://proxy.example:3128', NO_PROXY: 'internal.example,"bad entry"' },
}).config
const worker = { ...config.nodes[1]!, taints: ['dedicated=lab:NoSchedule'] }
const nspawn = { cgroupV1: true, restrictOomScoreAdj: true, conntrackReadOnly: true }

const dataFiles: Record<string, () => string> = {
  'containerd/config.toml': () => containerdConfig(nspawn),
  'cni/net.d/10-bridge.conflist': () => cniConflist(worker),
  'kubelet/kubelet-config.yaml': () => kubeletConfig(config, worker, nspawn),
  'kube-proxy/kube-proxy-config.yaml': () => kubeProxyConfig(config, nspawn),
  'crictl.yaml': () => crictlConfig(),
  'systemd/containerd.service.d/kubelab-proxy.conf': () => proxyDropIn(egress),
  'systemd/kubelet.service.d/kubelab-proxy.conf': () => proxyDropIn(config),
  'resolv.conf': () => machineResolvConf(egress),
}

function render(name: InstalledFileName): string {
  const entry = INSTALLED_FILES[name]
  if (entry.kind === 'template') return renderTemplate(name, values[name] ?? {})
  const build = dataFiles[name]
  if (!build) throw new Error(`no builder for ${name} in this test`)
  return build()
}

/** A golden-file test: `build()` must equal GOLDEN/name (UPDATE_GOLDEN=1 rewrites it). */
function golden(name: string, build: () => string, o: { templated: boolean }): void {
  test(`golden: ${name}`, (t) => {
    const out = build()
    const file = path.join(GOLDEN, name)
    if (process.env.UPDATE_GOLDEN) {
      mkdirSync(path.dirname(file), { recursive: true })
      writeFileSync(file, out)
    }
    t.true(existsSync(file), `missing golden file ${file} (run with UPDATE_GOLDEN=1)`)
    t.is(out, readFileSync(file, 'utf8'))
    if (o.templated) t.false(/\{\{|\}\}/.test(out), 'unresolved placeholder in output')
  })
}

for (const name of Object.keys(INSTALLED_FILES) as InstalledFileName[]) golden(name, () => render(name), { templated: true })

// Registries (not in the table: one hosts.toml per configured host): the valid-registries fixture
// with addons.registry, rendered as data; and containerd's config.toml with credentials.
const registries = parseConfig(readFileSync(path.join(FIXTURES, 'config', 'valid-registries.yaml'), 'utf8'), {
  file: path.join(FIXTURES, 'config', 'valid-registries.yaml'),
  env: { KUBELAB_TEST_REG_USER: 'robot', KUBELAB_TEST_REG_PASS: 's3cret' },
}).config
const registryGoldens: Record<string, () => string> = {
  'containerd/config-registry-auth.toml': () => containerdConfig(nspawn, registries.secrets.registryAuth),
  ...Object.fromEntries(registryHostsSpecs(registries.registries, { port: registries.addons.registry.port, address: '10.77.0.11' })
    .map((spec) => [`containerd/certs.d/${spec.host}/hosts.toml`, () => hostsToml(spec)])),
}

for (const [name, build] of Object.entries(registryGoldens)) golden(name, build, { templated: false })

test('registry files: one hosts.toml per host plus the local registry name, the CA beside its host', (t) => {
  const files = registryFiles(registries, '10.77.0.11')
  t.deepEqual(files.map((f) => f.path), [
    hostsTomlPath('docker.io'), hostsTomlPath('registry.example.internal:5000'), hostsTomlPath('ghcr.io'), hostsTomlPath('localhost:5002'),
    '/etc/containerd/certs.d/ghcr.io/ca.crt',
  ])
  t.regex(files.at(-1)!.content, /BEGIN CERTIFICATE/)
  // Without the addon only the configured hosts; the default config writes nothing.
  t.is(registryFiles({ ...registries, addons: { ...registries.addons, registry: { enabled: false, port: 5002 } } }, '10.77.0.11').filter((f) => f.path.endsWith('hosts.toml')).length, 3)
  t.deepEqual(registryFiles(config, '10.77.0.11'), [])
  // Every config.toml points containerd at certs.d; credentials only when configured.
  t.regex(containerdConfig(nspawn), /config_path = "\/etc\/containerd\/certs.d"/)
  t.false(containerdConfig(nspawn).includes('password'))
})

function listTemplates(dir = TEMPLATE_DIR, prefix = ''): string[] {
  return readdirSync(dir).flatMap((f) => {
    const full = path.join(dir, f)
    return statSync(full).isDirectory() ? listTemplates(full, `${prefix}${f}/`) : [`${prefix}${f}`]
  })
}

test('every file under templates/ is in the table as a template, and every template exists', (t) => {
  const onDisk = listTemplates().sort()
  const inTable = Object.entries(INSTALLED_FILES).filter(([, e]) => e.kind === 'template').map(([n]) => n).sort()
  t.deepEqual(onDisk, inTable)
})

test('no template has a placeholder without a sample value, nor a sample value without a placeholder', (t) => {
  for (const name of listTemplates()) {
    t.deepEqual([...placeholders(readTemplate(name))].sort(), Object.keys(values[name] ?? {}).sort(), name)
  }
})

test('rendering is strict: a missing value, an unknown value and a malformed placeholder are errors', (t) => {
  const missing = t.throws(() => renderText('x.service', 'ExecStart={{ bin }}/{{ name }}', { bin: '/b' }), { instanceOf: TemplateError })
  t.regex(missing!.message, /no value for \{\{ name \}\}/)
  t.is(missing!.code, 'ERR_TEMPLATE')
  const unknown = t.throws(() => renderText('x.service', 'A={{ a }}', { a: '1', b: '2' }), { instanceOf: TemplateError })
  t.regex(unknown!.message, /values not used by the template: b/)
  t.throws(() => renderText('x.service', 'A={{ a-b }}', {}), { instanceOf: TemplateError, message: /malformed placeholder on line 1/ })
  t.throws(() => renderTemplate('systemd/nope.service', {}), { instanceOf: TemplateError, message: /cannot read/ })
  t.is(renderText('x', 'a={{a}} b={{ a }}', { a: 'v' }), 'a=v b=v')
})

test('data files follow the substrate: cgroup v1 and containers change kubelet, kube-proxy, containerd', (t) => {
  t.true(kubeletConfig(config, worker, nspawn).includes('failCgroupV1: false'))
  t.false(kubeletConfig(config, worker, { cgroupV1: false, restrictOomScoreAdj: false, conntrackReadOnly: false }).includes('failCgroupV1'))
  t.true(kubeProxyConfig(config, nspawn).includes('maxPerCore: 0'))
  t.false(kubeProxyConfig(config, { cgroupV1: false, restrictOomScoreAdj: false, conntrackReadOnly: false }).includes('conntrack'))
  t.true(containerdConfig(nspawn).includes('restrict_oom_score_adj = true'))
  t.deepEqual(parseTaint('a=b:NoSchedule'), { key: 'a', value: 'b', effect: 'NoSchedule' })
  t.deepEqual(parseTaint('a:NoExecute'), { key: 'a', effect: 'NoExecute' })
})
