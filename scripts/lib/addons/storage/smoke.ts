// Smoke check: a PersistentVolumeClaim with no storageClassName (as Helm charts write it) binds
// through the default StorageClass, and what a StatefulSet's pod wrote is there for the pod that
// replaces it.

import { manifest, NS } from '../../smoke/fixtures.ts'
import type { SmokeCheck } from '../../smoke/types.ts'
import { until } from '../../smoke/wait.ts'
import { STORAGE_CLASS } from './manifest.ts'

const NAME = 'smoke-data'
const POD = `${NAME}-0`
const PVC = `data-${POD}`
/** PID 1: idles, exits on SIGTERM. */
const IDLE = 'trap "exit 0" TERM; sleep 86400 & wait'

/** A one-replica StatefulSet whose pod mounts a volume claimed from the default class. */
export function statefulSet(namespace: string, name: string, image: string): object {
  const labels = { app: name }
  return {
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name, namespace },
    spec: {
      serviceName: name, replicas: 1, selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'main', image, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', IDLE], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
        },
      },
      // No storageClassName: the default class answers.
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } } }],
    },
  }
}

export const storageKept: SmokeCheck = {
  id: 'storage-pvc',
  title: 'a PVC binds through the default StorageClass; its data outlives the pod',
  timeoutMs: 150_000,
  addon: 'storage',
  async run(ctx) {
    const k = ctx.kube
    const scs = await k.json<{ items: { metadata: { name: string; annotations?: Record<string, string> } }[] }>(['get', 'storageclass'])
    const defaults = scs.items.filter((s) => s.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true').map((s) => s.metadata.name)
    if (defaults.length !== 1 || defaults[0] !== STORAGE_CLASS) throw new Error(`default StorageClass(es): ${defaults.join(', ') || 'none'}; want ${STORAGE_CLASS} alone`)
    await k.apply(manifest(statefulSet(NS, NAME, ctx.fx.image)))
    const pvcPhase = async () => (await k.run(['-n', NS, 'get', 'pvc', PVC, '-o', 'jsonpath={.status.phase}'], { nothrow: true })).stdout
    const first = await ctx.fx.waitPod(ctx, POD, 120_000)
    await until(ctx, `PVC ${PVC} Bound`, 30_000, async () => ((await pvcPhase()) === 'Bound' ? undefined : `PVC ${PVC} is ${(await pvcPhase()) || 'missing'}`))
    const token = `kept-${Date.now()}`
    await ctx.fx.exec(POD, ['sh', '-c', `echo ${token} > /data/token`])
    const uid = async () => (await k.run(['-n', NS, 'get', 'pod', POD, '-o', 'jsonpath={.metadata.uid}'], { nothrow: true })).stdout
    const before = await uid()
    await k.run(['-n', NS, 'delete', 'pod', POD, '--wait=true'])
    await until(ctx, `a new ${POD}`, 60_000, async () => ((await uid()) && (await uid()) !== before ? undefined : 'the old pod is still there'))
    const second = await ctx.fx.waitPod(ctx, POD, 90_000)
    const read = (await ctx.fx.exec(POD, ['cat', '/data/token'])).trim()
    if (read !== token) throw new Error(`after the pod was replaced /data/token holds ${JSON.stringify(read)}, not ${token}`)
    const pv = (await k.run(['-n', NS, 'get', 'pvc', PVC, '-o', 'jsonpath={.spec.volumeName}'])).stdout
    return `${PVC} Bound to ${pv} (${STORAGE_CLASS}) on ${first.node}; data read back by the new pod on ${second.node}`
  },
}
