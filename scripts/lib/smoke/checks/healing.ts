// Checks 14-15: a worker heals itself. kubelet killed -> systemd brings it back and the node stays
// or returns Ready; containerd restarted -> running pods survive or are restarted. A worker machine
// restarted -> it rejoins Ready with its pod routes and sysctls, and its pods run again.

import { NS } from '../fixtures.ts'
import type { SmokeCheck, SmokeContext } from '../types.ts'
import { sleep, until } from '../wait.ts'

async function nodeReady(ctx: SmokeContext, name: string): Promise<string | undefined> {
  const r = await ctx.kube.run(['get', 'node', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}'], { nothrow: true })
  return r.stdout.startsWith('True') ? undefined : `node ${name}: ${r.stdout.trim() || r.stderr.trim()}`
}

const handle = (ctx: SmokeContext, name: string) => {
  const h = ctx.nodes.find((n) => n.spec.name === name)
  if (!h) throw new Error(`node ${name} is not open`)
  return h
}

async function restartCount(ctx: SmokeContext, pod: string): Promise<number> {
  return Number((await ctx.kube.run(['-n', NS, 'get', 'pod', pod, '-o', 'jsonpath={.status.containerStatuses[0].restartCount}'])).stdout || 0)
}

export const selfHealing: SmokeCheck = {
  id: 'self-healing',
  title: 'kubelet killed on a worker comes back, node Ready; containerd restarted, pods survive',
  timeoutMs: 150_000,
  async run(ctx) {
    const target = await ctx.fx.target(ctx)
    const worker = handle(ctx, target.node)
    const pidOf = async () => (await worker.runner.$`systemctl show -p MainPID --value kubelet`).stdout.trim()
    const before = await pidOf()
    await worker.runner.$`systemctl kill -s SIGKILL kubelet`
    await until(ctx, `kubelet on ${target.node} to be restarted by systemd`, 60_000, async () => {
      const pid = await pidOf()
      const active = await worker.runner.test`systemctl is-active -q kubelet`
      return active && pid !== '0' && pid !== before ? undefined : `MainPID ${pid}, ${active ? 'active' : 'not active'}`
    })
    await until(ctx, `${target.node} Ready after the kubelet restart`, 60_000, () => nodeReady(ctx, target.node))

    const restartsBefore = await restartCount(ctx, 'target')
    await worker.runner.$`systemctl restart containerd`
    await until(ctx, `pod target Ready after the containerd restart`, 60_000, async () => {
      const p = await ctx.fx.podInfo('target')
      const ready = p?.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True'
      return ready ? undefined : `target is ${p?.status.phase ?? 'gone'}`
    })
    const clients = await ctx.fx.clients(ctx)
    const other = [...clients.values()].find((c) => c.node !== target.node) ?? clients.get(target.node)!
    const ip = (await ctx.fx.podInfo('target'))?.status.podIP
    await until(ctx, 'target answering after the containerd restart', 20_000, async () => {
      const body = (await ctx.fx.exec(other.name, ['/bin/probe', 'get', `http://${ip}:8080/`, '--timeout', '5s'])).trim()
      return body === 'target' ? undefined : `answered ${JSON.stringify(body.slice(0, 60))}`
    }, 1_000)
    const restarts = (await restartCount(ctx, 'target')) - restartsBefore
    return `kubelet back with a new PID on ${target.node}; after containerd's restart target ${restarts === 0 ? 'kept running' : `was restarted (${restarts}x)`} and answers`
  },
}

const BOOT_MARK = '/run/kubelab-smoke-boot'

export const rebootSurvival: SmokeCheck = {
  id: 'reboot-survival',
  title: 'a restarted worker machine rejoins Ready with its routes, sysctls and pods',
  timeoutMs: 300_000,
  async run(ctx) {
    const workers = ctx.config.nodes.filter((n) => n.role === 'worker')
    const spec = workers[workers.length - 1]!
    await ctx.fx.clients(ctx) // its client pod must run again afterwards
    const node = handle(ctx, spec.name)
    await node.runner.$`touch ${BOOT_MARK}`
    // The connection drops as the machine goes down: whatever reboot returns is fine.
    await node.runner.$({ nothrow: true, timeoutMs: 10_000 })`systemctl reboot`.catch(() => undefined)
    node.runner.close()
    // A machine container ends when it reboots (the provider starts it again below), a VM reboots
    // in place. Give a container the seconds it takes to go down: an SSH connection tried while it
    // still lists as running waits out the whole boot deadline (60 s) before the next look.
    const downBy = Date.now() + 15_000
    do await sleep(500)
    while (Date.now() < downBy && (await ctx.provider.list()).find((x) => x.name === spec.name)?.state === 'running')
    await until(ctx, `${spec.name} to come back from the restart`, 180_000, async () => {
      const m = (await ctx.provider.list()).find((x) => x.name === spec.name)
      // Machine containers end on reboot; the provider starts them again, as `up` would.
      if (!m || m.state !== 'running') {
        await ctx.provider.ensure(ctx.config.nodes)
        return 'machine stopped; starting it'
      }
      await ctx.reopenNodes()
      const back = !(await handle(ctx, spec.name).runner.test`test -e ${BOOT_MARK}`)
      return back ? undefined : 'still the old boot'
    }, 2_000)
    await until(ctx, `${spec.name} Ready again`, 120_000, () => nodeReady(ctx, spec.name))
    const h = handle(ctx, spec.name)
    const routes = (await h.runner.$`ip route`).stdout
    const missing = ctx.config.nodes.filter((n) => n.name !== spec.name && !routes.includes(n.podCIDR)).map((n) => `${n.podCIDR} (${n.name})`)
    if (missing.length) throw new Error(`after the restart ${spec.name} has no route to ${missing.join(', ')}`)
    const sysctls = (await h.runner.$`sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables`).stdout.trim().split('\n')
    if (sysctls.some((v) => v.trim() !== '1')) throw new Error(`after the restart ip_forward / bridge-nf-call-iptables are ${sysctls.join(' / ')}`)
    ctx.fx.forget()
    await ctx.fx.waitPod(ctx, `client-${spec.name}`, 120_000)
    return `${spec.name} rebooted, Ready, ${ctx.config.nodes.length - 1} pod routes and sysctls in place, its pods running`
  },
}
