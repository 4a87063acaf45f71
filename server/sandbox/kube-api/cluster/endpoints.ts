import 'server-only';

// The Endpoints controller: the Service's v1 Endpoints, ready pods under addresses and unready
// ones under notReadyAddresses, as clients of the deprecated API still read them. Like the real
// one (kubernetes pkg/controller/endpoint, `truncateEndpoints`), it holds at most 1,000 addresses
// and says so in the annotation `endpoints.kubernetes.io/over-capacity: truncated`.

import type { V1EndpointSubset } from '@kubernetes/client-node';

import type { EndpointsObject, Wire } from '../models';
import { ENDPOINT_PORTS, managedFieldsEntry, newUid, timestamp } from '../objects';
import type { ObjectStore } from '../store';
import type { EndpointControllerOptions, ServicePod } from './controllers';
import { byIp } from './topology';

/** The most addresses (ready and not) one Endpoints object holds: the controller's `maxCapacity`. */
export const ENDPOINTS_MAX_CAPACITY = 1000;
/** The annotation the controller sets on an Endpoints object it truncated (`v1.EndpointsOverCapacity`). */
export const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';

type Subset = Wire<V1EndpointSubset>;

/**
 * Cuts `subsets` to {@link ENDPOINTS_MAX_CAPACITY} addresses as the real controller does, and
 * says whether it cut: ready addresses are kept before not-ready ones. Under the limit of ready
 * ones, only not-ready addresses go; over it, every not-ready address goes and each subset keeps
 * its share of the ready ones (its proportion of the total, rounded up, the last subset taking
 * what is left), the first of its list.
 */
export function truncateEndpoints(subsets: Subset[]): { subsets: Subset[]; truncated: boolean } {
  const count = (pick: (subset: Subset) => unknown[] | undefined) =>
    subsets.reduce((sum, subset) => sum + (pick(subset)?.length ?? 0), 0);
  const totalReady = count((subset) => subset.addresses);
  const totalNotReady = count((subset) => subset.notReadyAddresses);
  if (totalReady + totalNotReady <= ENDPOINTS_MAX_CAPACITY) return { subsets, truncated: false };
  const truncateReady = totalReady > ENDPOINTS_MAX_CAPACITY;
  const max = truncateReady ? ENDPOINTS_MAX_CAPACITY : ENDPOINTS_MAX_CAPACITY - totalReady;
  const total = truncateReady ? totalReady : totalNotReady;
  let canBeAdded = max;
  const cut = subsets.map((subset) => {
    const listed = (truncateReady ? subset.addresses : subset.notReadyAddresses) ?? [];
    const share = Math.min(Math.ceil((listed.length / total) * max), canBeAdded);
    const kept = listed.slice(0, share);
    canBeAdded -= kept.length;
    const { addresses: _ready, notReadyAddresses: _notReady, ...rest } = subset;
    const ready = truncateReady ? kept : (subset.addresses ?? []);
    const notReady = truncateReady ? [] : kept;
    // Empty lists are left out, as the API's omitempty leaves them out of the JSON.
    return {
      ...(ready.length > 0 ? { addresses: ready } : {}),
      ...(notReady.length > 0 ? { notReadyAddresses: notReady } : {}),
      ...rest,
    };
  });
  return { subsets: cut, truncated: true };
}

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
  const { subsets, truncated } =
    serving.length === 0
      ? { subsets: undefined, truncated: false }
      : truncateEndpoints([
          {
            ...(ready.length > 0 ? { addresses: ready } : {}),
            ...(notReady.length > 0 ? { notReadyAddresses: notReady } : {}),
            ports: ENDPOINT_PORTS,
          },
        ]);
  const existing = store.get('endpoints', namespace, service.name);
  if (existing && JSON.stringify(existing.subsets) === JSON.stringify(subsets)) return;
  const now = Date.now();
  const metadata = {
    labels: {
      ...service.labels,
      'endpoints.kubernetes.io/managed-by': 'endpoint-controller',
      'service.kubernetes.io/headless': '',
    },
    annotations: {
      'endpoints.kubernetes.io/last-change-trigger-time': timestamp(now),
      ...(truncated ? { [OVER_CAPACITY_ANNOTATION]: 'truncated' } : {}),
    },
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
