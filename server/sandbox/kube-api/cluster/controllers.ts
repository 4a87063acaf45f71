import 'server-only';

// The Service's endpoint controllers at work: like kube-controller-manager's, they watch the pods
// (here through the store) and, once a burst of pod writes has settled, reconcile the Service's
// EndpointSlices and Endpoints from the pods it selects.

import type { PodObject } from '../models';
import type { ServiceSpec } from '../objects';
import { matchesLabels, type LabelRequirement } from '../selector';
import type { ObjectStore } from '../store';
import { reconcileSlices } from './endpoint-slices';
import { reconcileEndpoints } from './endpoints';

/** A pod the Service selects, as the endpoint controllers read it from its Pod object. */
export interface ServicePod {
  name: string;
  uid: string;
  ip: string;
  nodeName?: string;
  ready: boolean;
  terminating: boolean;
}

/** What the endpoint controllers know of the Service they keep. */
export interface EndpointControllerOptions {
  namespace: string;
  service: ServiceSpec;
  serviceUid: string;
  maxEndpointsPerSlice: number;
}

const selectorRequirements = (selector: Record<string, string>): LabelRequirement[] =>
  Object.entries(selector).map(([key, value]) => ({ key, operator: 'in', values: [value] }));

/** A pod with an address is an endpoint; one without (not yet created) is not. */
function servicePod(pod: PodObject): ServicePod[] {
  const ip = pod.status?.podIP;
  if (ip === undefined) return [];
  return [
    {
      name: pod.metadata.name,
      uid: pod.metadata.uid,
      ip,
      nodeName: pod.spec?.nodeName,
      ready: (pod.status?.conditions ?? []).some(
        (condition) => condition.type === 'Ready' && condition.status === 'True',
      ),
      terminating: pod.metadata.deletionTimestamp !== undefined,
    },
  ];
}

/**
 * Reconciles the Service's endpoints now (a placeholder slice and an empty Endpoints when it has
 * no pods yet), then again after every burst of pod writes. Returns the function that stops it.
 */
export function startEndpointControllers(
  store: ObjectStore,
  options: EndpointControllerOptions,
): () => void {
  const selector = selectorRequirements(options.service.selector);
  const servicePods = () =>
    store
      .list('pods')
      .filter(
        (pod) =>
          pod.metadata.namespace === options.namespace &&
          matchesLabels(selector, pod.metadata.labels),
      )
      .flatMap(servicePod);
  const initial = servicePods();
  reconcileSlices(store, options, initial);
  reconcileEndpoints(store, options, initial);
  // Coalesced, as the controllers' work queues coalesce the writes of a burst. The two run in
  // turns of their own, as two controllers do: the EndpointSlices' writes (and watch events) do
  // not wait for the Endpoints object, whose 1,000 addresses take some 20 ms to validate.
  let scheduled = false;
  return store.subscribe((change) => {
    if (change.resource !== 'pods' || scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const pods = servicePods();
      reconcileSlices(store, options, pods);
      setImmediate(() => reconcileEndpoints(store, options, pods));
    });
  });
}
