// Whether a node has joined: kubelet holds a client certificate the cluster signed. (Its client
// kubeconfig is no marker: kubelet writes it, pointing at the certificate directory, as soon as it
// starts bootstrapping.)

import { KUBELET_CLIENT_CERT } from './paths.ts'
import type { NodeHandle } from './types.ts'

export const hasJoined = (node: NodeHandle): Promise<boolean> => node.runner.test`test -s ${KUBELET_CLIENT_CERT}`
