// The package as a user's project gets it (`npm i -D kubelab`, then `npx kubelab ...`): `npm pack`
// here, the tarball installed into an empty project outside this repository (its one runtime
// dependency, ssh2, from npm's cache), then run from that project with its own config file:
// version, --help, config validate, plan, up --machines-only, status, down. The tarball holds the
// compiled CLI (dist/kubelab.mjs), templates, the build script and the versions lock; no tests and
// no TypeScript sources, so nothing of this checkout (tsx, esbuild, its node_modules) is used.
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from '../helpers/paths.ts'

const run = promisify(execFile)
const work = mkdtempSync(path.join(tmpdir(), 'kubelab-package-'))
const project = path.join(work, 'project')
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', CI: '1', KUBELAB_EGRESS: 'off', KUBELAB_STATE: path.join(work, 'state') }
let tarball = ''

async function kubelab(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('npx', ['--no-install', 'kubelab', ...args], { cwd: project, env, timeout: 300_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

test.before(async () => {
  const packed = await run('npm', ['pack', '--json', '--pack-destination', work, '--loglevel=error'], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 })
  tarball = path.join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename)
  mkdirSync(path.join(project, 'e2e'), { recursive: true })
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'a-users-project', private: true, type: 'module' }))
  writeFileSync(path.join(project, 'e2e', 'cluster.yaml'), [
    'name: pkg',
    'provider: {type: nspawn, network: 10.95.0.0/24}',
    'nodes:',
    '  - {name: control-plane, role: control-plane}',
    '  - {name: worker-1, role: worker}',
    '',
  ].join('\n'))
  await run('npm', ['install', '--save-dev', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball], { cwd: project, env: { ...process.env, ...env }, timeout: 300_000 })
})

test.after.always(async () => {
  await kubelab('down', '-c', 'e2e/cluster.yaml')
  rmSync(work, { recursive: true, force: true })
})

test.serial('the tarball: the compiled CLI and what it reads at run time; no tests, no TypeScript sources', async (t) => {
  const files = (await run('tar', ['tzf', tarball])).stdout.split('\n').filter(Boolean)
  for (const f of ['package/dist/kubelab.mjs', 'package/scripts/bin/kubelab.mjs', 'package/scripts/lib/artifacts/build/build.sh',
    'package/artifacts/versions.lock.yaml', 'package/templates/systemd/kubelet.service', 'package/images/pause/main.go', 'package/README.md']) {
    t.true(files.includes(f), `${f} in the tarball`)
  }
  t.deepEqual(files.filter((f) => f.startsWith('package/test/') || f.endsWith('.ts')), [])
})

test.serial('installed in a project: version and --help from the package, not from this checkout', async (t) => {
  const v = await kubelab('version', '--json')
  t.is(v.code, 0, v.stderr)
  const info = JSON.parse(v.stdout) as { kubelab: string; kubernetes: { supported: string[] }; packageRoot: string }
  t.is(info.packageRoot, path.join(project, 'node_modules', 'kubelab'))
  t.true(info.kubernetes.supported.length >= 2)
  const help = await kubelab('up', '--help')
  t.is(help.code, 0, help.stderr)
  t.regex(help.stdout, /--install-deps/)
})

test.serial('from the project directory: config validate, plan, up --machines-only, status, down', async (t) => {
  const c = ['-c', 'e2e/cluster.yaml']
  const validate = await kubelab('config', 'validate', ...c)
  t.is(validate.code, 0, validate.stderr)
  const plan = await kubelab('plan', ...c)
  t.is(plan.code, 0, plan.stderr)
  t.regex(plan.stdout, /Plan for cluster "pkg"/)
  t.regex(plan.stdout, /kubelet:config/)
  const up = await kubelab('up', '--machines-only', ...c)
  t.is(up.code, 0, up.stderr)
  t.regex(up.stdout, /worker-1\s+worker\s+10\.95\.0\.\d+\s+running/)
  const status = await kubelab('status', ...c)
  t.is(status.code, 0, status.stderr)
  t.regex(status.stdout, /control-plane/)
  const down = await kubelab('down', ...c)
  t.is(down.code, 0, down.stderr)
})
