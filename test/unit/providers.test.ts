// Pure parts of the providers: provider choice, traits (the static table and each provider's
// info()), multipass arguments and cloud-init, apt sources, QEMU argv (local and cloud images,
// TCG/KVM/HVF), the NoCloud seed, cloud image checks.
import test from 'ava'
import { parse } from 'yaml'
import { parseConfig } from '../../scripts/lib/config/load.ts'
import { PROVIDERS } from '../../scripts/lib/config/schema.ts'
import { Progress } from '../../scripts/lib/log/progress.ts'
import { chooseProvider } from '../../scripts/lib/providers/index.ts'
import { cloudInit, instanceName, launchArgs, MultipassProvider, parseInfo } from '../../scripts/lib/providers/multipass/provider.ts'
import { NspawnProvider } from '../../scripts/lib/providers/nspawn/provider.ts'
import { QemuProvider } from '../../scripts/lib/providers/qemu/provider.ts'
import { SshProvider } from '../../scripts/lib/providers/ssh/provider.ts'
import { providerTraits } from '../../scripts/lib/providers/traits.ts'
import type { ProviderContext } from '../../scripts/lib/providers/types.ts'
import { mirrorFromAptSources } from '../../scripts/lib/providers/common/rootfs.ts'
import { hierarchies } from '../../scripts/lib/providers/common/cgroups.ts'

test('auto picks qemu only when KVM is usable, and says why', (t) => {
  t.deepEqual(chooseProvider('auto', { usable: true, reason: '/dev/kvm is usable' }), { type: 'qemu', why: 'auto: /dev/kvm is usable, so QEMU VMs with KVM' })
  t.is(chooseProvider('auto', { usable: false, reason: 'no /dev/kvm' }).type, 'nspawn')
  t.is(chooseProvider('ssh', { usable: true, reason: '' }).type, 'ssh')
})

test('static traits per provider type; auto agrees with both of what it resolves to', (t) => {
  const row = (type: (typeof PROVIDERS)[number]) => {
    const { makesMachines, assignsAddresses, labNetwork, emulatedCpu } = providerTraits(type)
    return { makesMachines, assignsAddresses, labNetwork, emulatedCpu }
  }
  t.deepEqual(row('nspawn'), { makesMachines: true, assignsAddresses: true, labNetwork: true, emulatedCpu: false })
  t.deepEqual(row('qemu'), { makesMachines: true, assignsAddresses: true, labNetwork: true, emulatedCpu: false })
  t.deepEqual(row('multipass'), { makesMachines: true, assignsAddresses: false, labNetwork: false, emulatedCpu: false })
  t.deepEqual(row('ssh'), { makesMachines: false, assignsAddresses: false, labNetwork: false, emulatedCpu: false })
  t.deepEqual(row('auto'), row('nspawn'))
  t.deepEqual(row('auto'), row('qemu'))
  t.deepEqual(providerTraits('nspawn').imageFiles, ['node-image', 'nspawn-image'])
  t.deepEqual(providerTraits('qemu').imageFiles, ['node-image', 'qemu-image'])
  t.deepEqual(providerTraits('multipass').imageFiles, [])
  t.deepEqual(providerTraits('ssh').imageFiles, [])
  for (const f of [...providerTraits('nspawn').imageFiles, ...providerTraits('qemu').imageFiles]) t.true(providerTraits('auto').imageFiles.includes(f), f)
  for (const type of PROVIDERS) t.truthy(providerTraits(type), type)
})

/** A provider context from YAML: nothing is started, no state directory is written. */
function ctxFor(yaml: string): ProviderContext {
  const { config } = parseConfig(`name: traits\n${yaml}`, { file: '/x/cluster.config.yaml', env: {} })
  return { config, stateDir: '/nonexistent/kubelab-traits', cacheDir: '/nonexistent/kubelab-cache', progress: new Progress({ sink: { write: () => true } }) }
}
const LOCAL_NODES = 'nodes: [{name: cp, role: control-plane}, {name: w1, role: worker}]\n'

test("info() of constructed providers: their type's traits, QEMU refined by accelerator, rootless networking and image", (t) => {
  t.deepEqual(new NspawnProvider(ctxFor(`provider: {type: nspawn}\n${LOCAL_NODES}`)).info(), { type: 'nspawn', ...providerTraits('nspawn') })
  t.deepEqual(new SshProvider(ctxFor('provider: {type: ssh}\nnodes: [{name: cp, role: control-plane, address: 192.0.2.10}, {name: w1, role: worker, address: 192.0.2.11}]\n')).info(), { type: 'ssh', ...providerTraits('ssh') })
  t.deepEqual(new MultipassProvider(ctxFor(`provider: {type: multipass}\n${LOCAL_NODES}`)).info(), { type: 'multipass', ...providerTraits('multipass') })

  const qemu = (accel: string, rootless: boolean, extra = '') => new QemuProvider(ctxFor(`provider: {type: qemu, qemu: {accel: ${accel}${extra}}}\n${LOCAL_NODES}`), { rootless }).info()
  const tcg = qemu('tcg', false)
  t.deepEqual(tcg, { type: 'qemu', ...providerTraits('qemu'), emulatedCpu: true })
  const kvm = qemu('kvm', false)
  t.deepEqual(kvm, { type: 'qemu', ...providerTraits('qemu') })
  t.false(kvm.emulatedCpu)
  const rootless = qemu('kvm', true)
  t.false(rootless.labNetwork, 'rootless: user-mode networking and the LAN hub, no lab namespace')
  t.true(rootless.makesMachines && rootless.assignsAddresses)
  t.true(qemu('tcg', true).emulatedCpu)
  const cloud = qemu('kvm', false, `, image: {url: "https://cloud.example.invalid/debian.qcow2", sha256: "${'a'.repeat(64)}"}`)
  t.deepEqual(cloud.imageFiles, [], 'a cloud image carries none of the baked files')
  t.true(cloud.labNetwork)
})

test('multipass launch arguments', (t) => {
  t.deepEqual(launchArgs({ image: '24.04', instance: instanceName('lab', 'worker-1'), cpus: 2, memoryMiB: 2048, cloudInit: '/s/w.yaml' }),
    ['launch', '24.04', '--name', 'lab-worker-1', '--cpus', '2', '--memory', '2048M', '--disk', '20G', '--cloud-init', '/s/w.yaml', '--timeout', '900'])
})

test('multipass cloud-init authorizes the cluster key for the default user', (t) => {
  const text = cloudInit('worker-1', 'ssh-ed25519 AAAAC3 kubelab@lab')
  t.true(text.startsWith('#cloud-config\n'))
  const data = parse(text) as { hostname: string; users: string[]; ssh_authorized_keys: string[] }
  t.is(data.hostname, 'worker-1')
  t.deepEqual(data.users, ['default'])
  t.deepEqual(data.ssh_authorized_keys, ['ssh-ed25519 AAAAC3 kubelab@lab'])
})

test('multipass info parsing', (t) => {
  const json = JSON.stringify({ errors: [], info: { 'lab-w1': { state: 'Running', ipv4: ['10.1.2.3'] } } })
  t.deepEqual(parseInfo(json, 'lab-w1'), { state: 'running', ipv4: '10.1.2.3' })
  t.is(parseInfo(json, 'lab-w2'), undefined)
})

test('the Debian mirror comes from apt sources, deb822 or one-line, never -security', (t) => {
  const deb822 = 'Types: deb\nURIs: http://mirror.example.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://security.example.invalid/debian-security\nSuites: bookworm-security\n'
  t.is(mirrorFromAptSources('bookworm', [{ name: 'debian.sources', text: deb822 }]), 'http://mirror.example.invalid/debian')
  const oneLine = 'deb http://security.example.invalid/ bookworm-security main\ndeb [arch=amd64] http://m.example.invalid/debian bookworm main\n'
  t.is(mirrorFromAptSources('bookworm', [{ name: 'sources.list', text: oneLine }]), 'http://m.example.invalid/debian')
  t.is(mirrorFromAptSources('trixie', [{ name: 'sources.list', text: oneLine }]), undefined)
  t.is(mirrorFromAptSources('bookworm', [{ name: 'x.sources', text: deb822.replace('Types: deb', 'Enabled: no\nTypes: deb') }]), undefined)
})

test('cgroup hierarchies of a hybrid host', (t) => {
  const h = hierarchies('9:name=systemd:/\n4:memory:/process_api/x\n0::/\n')
  t.true(h.some((x) => x.mount === '/sys/fs/cgroup/memory' && x.own === '/process_api/x'))
})

test('the QEMU command line, exactly: TCG with a lab tap, KVM with user-mode networking', async (t) => {
  const { qemuArgv } = await import('../../scripts/lib/providers/qemu/machine.ts')
  const base = { name: 'w1', cpus: 2, memoryMiB: 2048, kernel: '/i/vmlinuz', initrd: '/i/initrd.img', disk: '/s/w1/disk.qcow2', seed: '/s/w1/seed.img', serialLog: '/s/w1/serial.log', pidFile: '/s/w1/qemu.pid' }
  t.is(qemuArgv({ ...base, accel: 'tcg', net: { mode: 'tap', tap: 'kv0123456789', mac: '52:54:00:aa:bb:cc' } }).join(' '),
    '-name w1 -machine q35 -accel tcg,thread=multi,tb-size=256 -cpu max -smp 2 -m 2048 -nodefaults -display none '
    + '-serial file:/s/w1/serial.log -kernel /i/vmlinuz -initrd /i/initrd.img '
    + '-append root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname=w1 '
    + '-drive file=/s/w1/disk.qcow2,if=virtio,format=qcow2,cache=unsafe,discard=unmap '
    + '-drive file=/s/w1/seed.img,if=virtio,format=raw,readonly=on '
    + '-netdev tap,id=n0,ifname=kv0123456789,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=52:54:00:aa:bb:cc '
    + '-device virtio-rng-pci -pidfile /s/w1/qemu.pid -daemonize')
  const user = qemuArgv({ ...base, accel: 'kvm', net: { mode: 'user', hostfwd: [{ port: 2222, guest: 22 }], mac: '52:54:00:aa:bb:cc', lan: { socket: '/s/lan.sock', mac: '52:54:00:dd:ee:ff' } } })
  t.deepEqual(user.slice(4, 8), ['-accel', 'kvm', '-cpu', 'host'])
  t.is(user.slice(user.indexOf('-netdev'), user.indexOf('-netdev') + 8).join(' '),
    '-netdev user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=n0,mac=52:54:00:aa:bb:cc '
    + '-netdev stream,id=n1,server=off,addr.type=unix,addr.path=/s/lan.sock -device virtio-net-pci,netdev=n1,mac=52:54:00:dd:ee:ff')
})

test('MACs are stable per node and locally administered', async (t) => {
  const { macFor } = await import('../../scripts/lib/providers/qemu/machine.ts')
  t.is(macFor('w1'), macFor('w1'))
  t.not(macFor('w1'), macFor('w2'))
  t.regex(macFor('w1'), /^52:54:00(:[0-9a-f]{2}){3}$/)
})

test('QEMU accelerator: what the config asks, else HVF on macOS, KVM where usable, TCG otherwise', async (t) => {
  const { chooseAccel } = await import('../../scripts/lib/providers/qemu/machine.ts')
  t.is(chooseAccel('auto', { platform: 'darwin', kvmUsable: false }), 'hvf')
  t.is(chooseAccel('auto', { platform: 'linux', kvmUsable: true }), 'kvm')
  t.is(chooseAccel('auto', { platform: 'linux', kvmUsable: false }), 'tcg')
  t.is(chooseAccel('tcg', { platform: 'darwin', kvmUsable: false }), 'tcg')
  t.is(chooseAccel('hvf', { platform: 'linux', kvmUsable: true }), 'hvf') // preflight refuses it there
})

test('the QEMU command line of a cloud image: its own bootloader, no -kernel, the cidata seed; HVF on macOS', async (t) => {
  const { qemuArgv } = await import('../../scripts/lib/providers/qemu/machine.ts')
  const spec = { name: 'cp', cpus: 1, memoryMiB: 1024, sercon: '/s/cp/sercon-port', disk: '/s/cp/disk.qcow2', seed: '/s/cp/cidata.iso', serialLog: '/s/cp/serial.log', pidFile: '/s/cp/qemu.pid', net: { mode: 'tap' as const, tap: 'kv0123456789', mac: '52:54:00:aa:bb:cc' } }
  t.is(qemuArgv({ ...spec, accel: 'tcg' }).join(' '),
    '-name cp -machine q35 -accel tcg,thread=multi,tb-size=256 -cpu max -smp 1 -m 1024 -nodefaults -display none '
    + '-serial file:/s/cp/serial.log -fw_cfg name=etc/sercon-port,file=/s/cp/sercon-port '
    + '-drive file=/s/cp/disk.qcow2,if=none,id=disk0,format=qcow2,cache=unsafe,discard=unmap -device virtio-blk-pci,drive=disk0,bootindex=0 '
    + '-drive file=/s/cp/cidata.iso,if=virtio,format=raw,readonly=on '
    + '-netdev tap,id=n0,ifname=kv0123456789,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=52:54:00:aa:bb:cc '
    + '-device virtio-rng-pci -pidfile /s/cp/qemu.pid -daemonize')
  const hvf = qemuArgv({ ...spec, accel: 'hvf' })
  t.deepEqual(hvf.slice(2, 8), ['-machine', 'q35', '-accel', 'hvf', '-cpu', 'host'])
  t.false(hvf.includes('-kernel'))
})

test('the NoCloud seed: cluster key for root, pinned host key, hosts, instance id, static network v2 by MAC', async (t) => {
  const { seedFiles } = await import('../../scripts/lib/providers/qemu/nocloud.ts')
  const privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\n'
  const files = seedFiles({
    instanceId: 'kubelab-h1-cp', hostname: 'cp', authorizedKey: 'ssh-ed25519 AAAAC3 kubelab@h1\n',
    hostKey: { private: privateKey, public: 'ssh-ed25519 HOSTKEY cp\n' },
    hosts: { cp: '10.85.0.11', w1: '10.85.0.12' },
    nics: [{ name: 'eth0', mac: '52:54:00:aa:bb:cc', addresses: ['10.85.0.11/24'], gateway: '10.85.0.1', nameservers: ['10.85.0.1'] }],
  })
  t.true(files['user-data'].startsWith('#cloud-config\n'))
  const user = parse(files['user-data']) as Record<string, unknown>
  t.like(user, { hostname: 'cp', disable_root: false, ssh_pwauth: false, ssh_deletekeys: true, manage_etc_hosts: false })
  t.deepEqual(user.ssh_authorized_keys, ['ssh-ed25519 AAAAC3 kubelab@h1'])
  t.false('ssh_genkeytypes' in user) // [] is invalid in cloud-init's schema; with ssh_keys none are generated anyway
  t.deepEqual(user.ssh_keys, { ed25519_private: privateKey, ed25519_public: 'ssh-ed25519 HOSTKEY cp' })
  t.deepEqual(user.write_files, [{ path: '/etc/hosts', permissions: '0644', content: '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.85.0.11\tcp\n10.85.0.12\tw1\n' }])
  t.deepEqual(parse(files['meta-data']), { 'instance-id': 'kubelab-h1-cp', 'local-hostname': 'cp' })
  t.deepEqual(parse(files['network-config']), {
    version: 2,
    ethernets: { eth0: { match: { macaddress: '52:54:00:aa:bb:cc' }, 'set-name': 'eth0', addresses: ['10.85.0.11/24'], gateway4: '10.85.0.1', nameservers: { addresses: ['10.85.0.1'] } } },
  })
  // Rootless: a second NIC on the VMs' private network, no gateway there.
  const { networkConfig } = await import('../../scripts/lib/providers/qemu/nocloud.ts')
  t.deepEqual(parse(networkConfig([{ name: 'eth1', mac: '52:54:00:dd:ee:ff', addresses: ['10.85.0.12/24'] }])),
    { version: 2, ethernets: { eth1: { match: { macaddress: '52:54:00:dd:ee:ff' }, 'set-name': 'eth1', addresses: ['10.85.0.12/24'] } } })
  // cloud-init's YAML 1.1 would read an all-digit MAC as a base-60 number: it must be quoted.
  t.regex(networkConfig([{ name: 'eth0', mac: '52:54:00:12:34:56', addresses: [] }]), /macaddress: "52:54:00:12:34:56"/)
})

test('cloud images: the mismatch error names URL, expected and actual; only standalone qcow2/raw; overlay size', async (t) => {
  const { overlaySize, MIN_DISK_BYTES, parseImageInfo, sha256Mismatch } = await import('../../scripts/lib/providers/qemu/cloud-image.ts')
  const err = sha256Mismatch('http://127.0.0.1:1/x.qcow2', 'a'.repeat(64), 'b'.repeat(64))
  t.is(err.code, 'ERR_ARTIFACT')
  t.is(err.message, `cloud image http://127.0.0.1:1/x.qcow2: sha256 mismatch: expected ${'a'.repeat(64)}, got ${'b'.repeat(64)}`)
  t.deepEqual(err.details, { url: 'http://127.0.0.1:1/x.qcow2', expected: 'a'.repeat(64), actual: 'b'.repeat(64) })
  t.deepEqual(parseImageInfo('{"format":"qcow2","virtual-size":2148532224}', 'u'), { format: 'qcow2', virtualSize: 2148532224 })
  t.deepEqual(parseImageInfo('{"format":"raw","virtual-size":512}', 'u'), { format: 'raw', virtualSize: 512 })
  t.throws(() => parseImageInfo('{"format":"iso"}', 'u'), { message: /u is iso: only qcow2 and raw/ })
  t.throws(() => parseImageInfo('{"format":"qcow2","backing-filename":"/etc/shadow"}', 'u'), { message: /backing file/ })
  t.is(overlaySize(2 * 1024 ** 3), MIN_DISK_BYTES)
  t.is(overlaySize(64 * 1024 ** 3), 64 * 1024 ** 3)
})
