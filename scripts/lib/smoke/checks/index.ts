// The suite, in the order it runs: the issue's fifteen checks, NetworkPolicy and the addons' checks
// (disruptive ones near the end).

import { nodesReady, secretEncrypted } from './cluster.ts'
import { rebootSurvival, selfHealing } from './healing.ts'
import { apiFromPod, clusterIpService, dns, nodePortService, podToPod } from './network.ts'
import { networkPolicyEnforced } from './netpol.ts'
import { rbacIsolation } from './rbac.ts'
import { resourceLimits } from './resources.ts'
import { deploymentSpread, podExec, podLogs, portForward } from './workloads.ts'
import type { SmokeCheck } from '../types.ts'
import { ADDONS } from '../../addons/index.ts'

export const CHECKS: readonly SmokeCheck[] = [
  nodesReady, secretEncrypted, deploymentSpread, portForward, podLogs, podExec,
  clusterIpService, nodePortService, podToPod, apiFromPod, dns, networkPolicyEnforced, resourceLimits,
  // Each addon's checks (addons/index.ts): storage, metrics-server, load balancer.
  ...ADDONS.flatMap((a) => a.checks),
  selfHealing, rebootSurvival, rbacIsolation,
]
