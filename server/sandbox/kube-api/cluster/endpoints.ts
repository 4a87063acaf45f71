import 'server-only';

// The Endpoints controller: the Service's v1 Endpoints, ready pods under addresses and unready
// ones under notReadyAddresses, as clients of the deprecated API still read them.

import type { V1EndpointSubset } from '@kubernetes/client-node';

import type { EndpointsObject, Wire } from '../models';
import { ENDPOINT_PORTS, managedFieldsEntry, newUid, timestamp } from '../objects';
import type { ObjectStore } from '../store';
import type { EndpointControllerOptions, ServicePod } from './controllers';
import { byIp } from './topology';

/** Writes the Service's Endpoints for `pods`, unless they already say the same. */
export function reconcileEndpoints(
  store: ObjectStore,
  options: EndpointControllerOptions,
  pods: ServicePod[],
): void {
  const { namespace, service } = options;
  // The Endpoints controller leaves terminating pods out entirely (no publishNotReadyAddresses).
  const address = (pod: ServicePod) => ({
    ip: pod.ip,
    nodeName: pod.nodeName,
    targetRef: { kind: 'Pod', name: pod.name, namespace, uid: pod.uid },
  });
  const serving = pods.filter((pod) => !pod.terminating).sort(byIp);
  const ready = serving.filter((pod) => pod.ready).map(address);
  const notReady = serving.filter((pod) => !pod.ready).map(address);
  const subsets: Array<Wire<V1EndpointSubset>> | undefined =
    serving.length === 0
      ? undefined
      : [
          {
            ...(ready.length > 0 ? { addresses: ready } : {}),
            ...(notReady.length > 0 ? { notReadyAddresses: notReady } : {}),
            ports: ENDPOINT_PORTS,
          },
        ];
  const existing = store.get('endpoints', namespace, service.name);
  if (existing && JSON.stringify(existing.subsets) === JSON.stringify(subsets)) return;
  const now = Date.now();
  const metadata = {
    labels: {
      ...service.labels,
      'endpoints.kubernetes.io/managed-by': 'endpoint-controller',
      'service.kubernetes.io/headless': '',
    },
    annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': timestamp(now) },
  };
  const endpoints: EndpointsObject = {
    metadata: {
      name: service.name,
      namespace,
      uid: existing?.metadata.uid ?? newUid(),
      resourceVersion: '',
      creationTimestamp: existing?.metadata.creationTimestamp ?? timestamp(now),
      ...metadata,
      managedFields: [
        managedFieldsEntry('kube-controller-manager', 'v1', { metadata, subsets }, now),
      ],
    },
    ...(subsets ? { subsets } : {}),
  };
  store.put('endpoints', endpoints);
}
