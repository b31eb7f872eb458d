// addons.metricsServer (default on, as k3s/k3d ship it): metrics-server built from its Go module
// (lock component metrics-server), kubelet serving certificates verified against the cluster CA.
// Done when its Deployment is Available and the APIService v1beta1.metrics.k8s.io is Available.

import { readFileSync } from 'node:fs'
import type { StepContext } from '../../converge/step.ts'
import { imageArtifact, imageRef } from '../../images/workloads.ts'
import { apiGet } from '../../node/cluster-api.ts'
import { addonManifest, type AddonManifest } from '../manifest.ts'
import { manifestAddonStep } from '../step.ts'
import type { Addon } from '../types.ts'
import { METRICS_APISERVICE, METRICS_NAMESPACE, metricsServerObjects } from './manifest.ts'
import { topAnswers } from './smoke.ts'

/** A PKI file's text on the host (the store kubelab issued; pki:certs installed the same on the control plane). */
function pkiText(ctx: StepContext, name: string): string {
  const f = ctx.pki?.files('control-plane').find((x) => x.path === `/etc/kubernetes/pki/${name}`)
  if (!f) throw new Error(`addons.metricsServer is on but the PKI has no ${name}`)
  return readFileSync(f.local, 'utf8')
}

function manifest(ctx: StepContext): AddonManifest {
  const artifact = imageArtifact(ctx.artifacts, 'metrics-server')
  if (!artifact) throw new Error('addons.metricsServer is on but the resolved artifacts have no metrics-server binary')
  const tls = { cert: pkiText(ctx, 'metrics-server.crt'), key: pkiText(ctx, 'metrics-server.key'), ca: readFileSync(ctx.pki!.ca.local, 'utf8') }
  return addonManifest('metricsServer', metricsServerObjects({ image: imageRef(artifact), tls }))
}

/** Why the APIService is not Available (undefined when it is). */
async function apiServiceReady(ctx: StepContext): Promise<string | undefined> {
  const r = await apiGet(ctx, `/apis/apiregistration.k8s.io/v1/apiservices/${METRICS_APISERVICE}`)
  if (r.status !== 200) return `reading APIService ${METRICS_APISERVICE} failed: ${r.error ?? `HTTP ${r.status}`}`
  const c = (JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string; message?: string }[] } }).status?.conditions?.find((x) => x.type === 'Available')
  return c?.status === 'True' ? undefined : `APIService ${METRICS_APISERVICE} not Available: ${c ? `${c.status} ${c.message ?? ''}`.trim() : 'no condition yet'}`
}

export const metricsServer: Addon = {
  name: 'metricsServer',
  summary: 'metrics-server: kubectl top nodes/pods, CPU and memory for HorizontalPodAutoscalers',
  upstream: 'sigs.k8s.io/metrics-server',
  steps: [manifestAddonStep({
    name: 'metricsServer',
    title: 'Deploying metrics-server (kubectl top)',
    manifest,
    deployments: [{ namespace: METRICS_NAMESPACE, name: 'metrics-server', selector: 'k8s-app=metrics-server' }],
    ready: apiServiceReady,
  })],
  checks: [topAnswers],
}
