// Pure parts of the providers: provider choice, multipass arguments and cloud-init, apt sources.
import test from 'ava'
import { parse } from 'yaml'
import { chooseProvider } from '../../scripts/lib/providers/index.ts'
import { cloudInit, instanceName, launchArgs, parseInfo } from '../../scripts/lib/providers/multipass/provider.ts'
import { mirrorFromAptSources } from '../../scripts/lib/providers/common/rootfs.ts'
import { hierarchies } from '../../scripts/lib/providers/common/cgroups.ts'

test('auto picks qemu only when KVM is usable, and says why', (t) => {
  t.deepEqual(chooseProvider('auto', { usable: true, reason: '/dev/kvm is usable' }), { type: 'qemu', why: 'auto: /dev/kvm is usable, so QEMU VMs with KVM' })
  t.is(chooseProvider('auto', { usable: false, reason: 'no /dev/kvm' }).type, 'nspawn')
  t.is(chooseProvider('ssh', { usable: true, reason: '' }).type, 'ssh')
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
