// addons:registry (step.ts) — the local registry (addons.registry, kind's local-registry recipe): the
// distribution registry (built from its Go module like every binary, artifacts:upload put it in
// /usr/local/bin) as a systemd service on the control-plane node, plain http on port 5000 of the
// node, its data under /var/lib/kubelab-registry (kept across `up` re-runs and machine restarts;
// `kubelab down` removes the machine and with it the data). The host pushes to 127.0.0.1:PORT (the
// provider's `registry` forward); every node's containerd maps localhost:PORT to it
// (runtime:registries). Restarted only when its unit or config changes.

import { convergeService, serviceConverged, type ServiceSpec } from '../../converge/service.ts'
import type { Step } from '../../converge/step.ts'
import { BIN_DIR, REGISTRY_DATA_DIR } from '../../node/paths.ts'
import { LOCAL_REGISTRY_NODE_PORT } from '../../templates/files.ts'
import { renderTemplate } from '../../templates/render.ts'
import { INSTALLED_FILES } from '../../templates/table.ts'

function service(): ServiceSpec {
  const unit = INSTALLED_FILES['systemd/kubelab-registry.service']
  const conf = INSTALLED_FILES['registry/config.yml']
  return {
    unit: 'kubelab-registry.service',
    files: [
      { path: unit.dest, content: renderTemplate('systemd/kubelab-registry.service', { binDir: BIN_DIR }), mode: unit.mode },
      { path: conf.dest, content: renderTemplate('registry/config.yml', { dataDir: REGISTRY_DATA_DIR, port: String(LOCAL_REGISTRY_NODE_PORT) }), mode: conf.mode },
    ],
    // The distribution API's base endpoint answers 200 once the registry serves.
    health: `curl -fsS -o /dev/null http://127.0.0.1:${LOCAL_REGISTRY_NODE_PORT}/v2/`,
    healthTimeoutS: 30,
  }
}

export const addonsRegistry: Step = {
  id: 'addons:registry',
  title: 'Starting the local registry',
  on: 'control-plane',
  when: (config) => config.addons.registry.enabled && config.controlPlane.mode === 'managed',
  after: ['artifacts:upload'],
  check: (_ctx, node) => serviceConverged(node.runner, service()),
  async apply(_ctx, node) {
    await node.runner.$`mkdir -p ${REGISTRY_DATA_DIR}`
    await convergeService(node.runner, service())
  },
}
