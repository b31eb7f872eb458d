// addons.storage (default on, like kind's and k3d's default class): the default StorageClass
// `local-path` with node-local volumes provisioned on demand by local-path-provisioner (built
// from its Go module; lock component local-path-provisioner), helper pods on the testbox image.

import type { StepContext } from '../../converge/step.ts'
import { imageArtifact, imageRef, TESTBOX_IMAGE } from '../../images/workloads.ts'
import { LOCAL_PATH_DIR } from '../../node/paths.ts'
import { addonManifest, type AddonManifest } from '../manifest.ts'
import { manifestAddonStep } from '../step.ts'
import type { Addon } from '../types.ts'
import { STORAGE_NAMESPACE, storageObjects } from './manifest.ts'
import { storageKept } from './smoke.ts'

function manifest(ctx: StepContext): AddonManifest {
  const artifact = imageArtifact(ctx.artifacts, 'local-path-provisioner')
  if (!artifact) throw new Error('addons.storage is on but the resolved artifacts have no local-path-provisioner binary')
  return addonManifest('storage', storageObjects({ image: imageRef(artifact), helperImage: TESTBOX_IMAGE, dir: LOCAL_PATH_DIR }))
}

export const storage: Addon = {
  name: 'storage',
  summary: 'default StorageClass local-path: node-local PersistentVolumes on demand (WaitForFirstConsumer)',
  upstream: 'github.com/rancher/local-path-provisioner',
  steps: [manifestAddonStep({
    name: 'storage',
    title: 'Deploying the default StorageClass (local-path-provisioner)',
    manifest,
    deployments: [{ namespace: STORAGE_NAMESPACE, name: 'local-path-provisioner', selector: 'app=local-path-provisioner' }],
  })],
  checks: [storageKept],
}
