import 'server-only';

// The EndpointSlice controller: the Service's pods as endpoints (ready, serving, terminating),
// spread over slices of at most maxEndpointsPerSlice with as little churn as the real one makes.

import type { EndpointObject, EndpointSliceObject } from '../models';
import { ENDPOINT_PORTS, managedFieldsEntry, newUid, randomSuffix, timestamp } from '../objects';
import type { ObjectStore } from '../store';
import type { EndpointControllerOptions, ServicePod } from './controllers';
import { byIp, zoneOf } from './topology';

interface Plan {
  slice: EndpointSliceObject | undefined;
  before: EndpointObject[];
  after: EndpointObject[];
}

/** Writes the Service's EndpointSlices for `pods`, leaving a slice alone when it is unchanged. */
export function reconcileSlices(
  store: ObjectStore,
  options: EndpointControllerOptions,
  pods: ServicePod[],
): void {
  const { namespace, service, maxEndpointsPerSlice } = options;
  const desired = new Map(pods.map((pod) => [pod.uid, endpointFor(pod, namespace)]));
  const uidOf = (endpoint: EndpointObject) => endpoint.targetRef?.uid ?? '';
  const slices = store
    .list('endpointslices')
    .filter((slice) => slice.metadata.labels?.['kubernetes.io/service-name'] === service.name);

  // Keep each endpoint in the slice that has it (updated in place), as the real controller does
  // to limit churn; then fill slices with room; then open new slices.
  const placed = new Set<string>();
  const plans: Plan[] = slices.map((slice) => {
    const before = slice.endpoints ?? [];
    const after = before
      .filter((endpoint) => desired.has(uidOf(endpoint)) && !placed.has(uidOf(endpoint)))
      .map((endpoint) => {
        placed.add(uidOf(endpoint));
        return desired.get(uidOf(endpoint))!;
      });
    return { slice, before, after };
  });
  const fresh = pods
    .filter((pod) => !placed.has(pod.uid))
    .sort(byIp)
    .map((pod) => desired.get(pod.uid)!);
  for (const plan of plans) {
    while (fresh.length > 0 && plan.after.length < maxEndpointsPerSlice)
      plan.after.push(fresh.shift()!);
  }
  while (fresh.length > 0) {
    plans.push({ slice: undefined, before: [], after: fresh.splice(0, maxEndpointsPerSlice) });
  }
  // One slice stays even with no endpoints (the controller's placeholder slice).
  const nonEmpty = plans.filter((plan) => plan.after.length > 0);
  const keep = nonEmpty.length > 0 ? nonEmpty : plans.slice(0, 1);
  if (keep.length === 0) keep.push({ slice: undefined, before: [], after: [] });
  for (const plan of plans) {
    if (!keep.includes(plan) && plan.slice) {
      store.remove('endpointslices', namespace, plan.slice.metadata.name);
    }
  }
  const now = Date.now();
  for (const plan of keep) {
    if (plan.slice && JSON.stringify(plan.before) === JSON.stringify(plan.after)) continue;
    store.put('endpointslices', buildSlice(options, plan.slice, plan.after, now));
  }
}

function endpointFor(pod: ServicePod, namespace: string): EndpointObject {
  return {
    addresses: [pod.ip],
    conditions: {
      ready: pod.ready && !pod.terminating,
      serving: pod.ready,
      terminating: pod.terminating,
    },
    nodeName: pod.nodeName,
    targetRef: { kind: 'Pod', name: pod.name, namespace, uid: pod.uid },
    zone: zoneOf(pod.nodeName),
  };
}

function buildSlice(
  options: EndpointControllerOptions,
  existing: EndpointSliceObject | undefined,
  endpoints: EndpointObject[],
  now: number,
): EndpointSliceObject {
  const { namespace, service } = options;
  const labels = {
    ...service.labels,
    'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
    'kubernetes.io/service-name': service.name,
    'service.kubernetes.io/headless': '',
  };
  const annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': timestamp(now) };
  const metadata = {
    labels,
    annotations,
    generateName: `${service.name}-`,
    ownerReferences: [
      {
        apiVersion: 'v1',
        blockOwnerDeletion: true,
        controller: true,
        kind: 'Service',
        name: service.name,
        uid: options.serviceUid,
      },
    ],
  };
  const body = {
    addressType: 'IPv4',
    // The real API serializes an empty slice's endpoints as null.
    endpoints: endpoints.length > 0 ? endpoints : null,
    ports: ENDPOINT_PORTS,
  };
  return {
    ...body,
    metadata: {
      name: existing?.metadata.name ?? `${service.name}-${randomSuffix(5)}`,
      namespace,
      uid: existing?.metadata.uid ?? newUid(),
      resourceVersion: '',
      generation: (existing?.metadata.generation ?? 0) + 1,
      creationTimestamp: existing?.metadata.creationTimestamp ?? timestamp(now),
      ...metadata,
      managedFields: [
        managedFieldsEntry(
          'kube-controller-manager',
          'discovery.k8s.io/v1',
          { metadata, ...body },
          now,
        ),
      ],
    },
  };
}
