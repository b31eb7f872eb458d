// The multipass provider for real: only where the multipass CLI exists (it needs a hypervisor).
import test from 'ava'
import { execFileSync } from 'node:child_process'

function multipassMissing(): string | undefined {
  try {
    execFileSync('multipass', ['version'], { stdio: 'ignore' })
    return undefined
  } catch {
    return 'multipass is not installed on this host (it needs snapd and a hypervisor)'
  }
}

const reason = multipassMissing()
if (reason) console.log(`# skipped multipass integration: ${reason}`)

;(reason ? test.skip : test)('multipass: launch one instance, reach it over SSH, delete it', async (t) => {
  const { kubelab } = await import('../helpers/cli.ts')
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const path = await import('node:path')
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelab-mp-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = path.join(dir, 'c.yaml')
  writeFileSync(config, 'name: mptest\nprovider: {type: multipass}\nnodes:\n  - {name: cp, role: control-plane}\n  - {name: w1, role: worker}\n')
  const env = { KUBELAB_STATE: path.join(dir, 'state') }
  t.teardown(async () => { await kubelab(['down', '-c', config], { env }) })
  const up = await kubelab(['up', '--machines-only', '-c', config], { env })
  t.is(up.code, 0, up.stderr)
  const ssh = await kubelab(['ssh', 'w1', '-c', config, '--', 'hostname'], { env })
  t.is(ssh.stdout.trim(), 'w1')
})
