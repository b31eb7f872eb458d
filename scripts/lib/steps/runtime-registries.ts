// runtime:registries — containerd's registry hosts directory (config_path, /etc/containerd/certs.d):
// one `<host>/hosts.toml` per `registries:` entry (mirrors in order, then the host over https, or
// http when `insecure`), its `ca.crt` when the config names one, and with addons.registry the
// `localhost:PORT` name mapped to the local registry on the control-plane node (plain http), as
// kind's local-registry recipe does. containerd reads these files on every pull, so nothing is
// restarted and running pods are never touched. Directories kubelab wrote (marked on hosts.toml's
// first line) for hosts no longer in the config are removed; others are left alone.
// Credentials are not here: they live in containerd's config.toml (runtime:containerd).

import { readFileSync } from 'node:fs'
import type { ClusterConfig } from '../config/types.ts'
import { differingFiles, writeFiles, type WantedFile } from '../converge/files.ts'
import type { Step, StepContext } from '../converge/step.ts'
import type { NodeHandle } from '../node/types.ts'
import { CERTS_D, HOSTS_TOML_MARK, hostsToml, hostsTomlPath, registryCaPath, registryHostsSpecs } from '../templates/files.ts'

/** The lab address the local registry answers on: the control-plane node's. */
export function localRegistryAddress(ctx: Pick<StepContext, 'nodes'>): string | undefined {
  const cp = ctx.nodes.find((n) => n.spec.role === 'control-plane')
  return cp ? (cp.machine.address || cp.spec.address) : undefined
}

/** Every file under certs.d this config wants, on every node alike. */
export function registryFiles(config: ClusterConfig, localAddress: string | undefined): WantedFile[] {
  const local = config.addons.registry.enabled && localAddress ? { port: config.addons.registry.port, address: localAddress } : undefined
  const files: WantedFile[] = registryHostsSpecs(config.registries, local).map((spec) => ({ path: hostsTomlPath(spec.host), content: hostsToml(spec), mode: 0o644 }))
  for (const r of config.registries) {
    if (r.ca) files.push({ path: registryCaPath(r.host), content: readFileSync(r.ca, 'utf8'), mode: 0o644 })
  }
  return files
}

const wantedHosts = (files: readonly WantedFile[]) => new Set(files.filter((f) => f.path.endsWith('/hosts.toml')).map((f) => f.path.slice(CERTS_D.length + 1, -'/hosts.toml'.length)))

/** Host directories kubelab wrote earlier that the config no longer names. */
async function staleHosts(node: NodeHandle, files: readonly WantedFile[]): Promise<string[]> {
  const r = await node.runner.$({ nothrow: true })`for f in ${CERTS_D}/*/hosts.toml; do [ -f "$f" ] && [ "$(head -n1 "$f")" = ${HOSTS_TOML_MARK} ] && basename "$(dirname "$f")"; done`
  const want = wantedHosts(files)
  return r.stdout.split('\n').map((l) => l.trim()).filter((h) => h && !want.has(h))
}

function files(ctx: StepContext): WantedFile[] {
  return registryFiles(ctx.config, localRegistryAddress(ctx))
}

export const runtimeRegistries: Step = {
  id: 'runtime:registries',
  title: 'Configuring registries (containerd hosts.toml)',
  on: 'all',
  after: ['runtime:containerd'],
  async check(ctx, node) {
    const want = files(ctx)
    return (await differingFiles(node.runner, want)).length === 0 && (await staleHosts(node, want)).length === 0
  },
  async apply(ctx, node) {
    const want = files(ctx)
    await writeFiles(node.runner, want)
    for (const host of await staleHosts(node, want)) await node.runner.$`rm -rf ${`${CERTS_D}/${host}`}`
  },
}
