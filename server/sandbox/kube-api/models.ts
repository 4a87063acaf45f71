import 'server-only';

// The shapes of the objects the emulator stores and serves, from @kubernetes/client-node's models.
// The models are classes made for client-node's ObjectSerializer, which would turn every time into
// a Date and write fields in its own order; the emulator writes its JSON itself, field by field in
// the real server's order, so it takes the models as shapes only and never instantiates them.

import type {
  CoreV1Event,
  V1Endpoint,
  V1EndpointSlice,
  V1Endpoints,
  V1ObjectMeta,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';

/**
 * A model as its JSON reads. client-node holds a `metav1.Time` as a `Date`; on the wire it is an
 * RFC 3339 string, or null where the real server writes a zero time (`lastProbeTime`, `eventTime`).
 */
export type Wire<T> = T extends Date
  ? string | null
  : T extends readonly (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T;

/** Object metadata as the store keeps it: the fields every stored object has are required. */
export type ObjectMeta = Wire<V1ObjectMeta> & {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
};

/** Any stored object: kind and apiVersion are added when served, as the real server does per context. */
export interface StoredObject {
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** A model as the store keeps it: without kind and apiVersion, with the metadata every object has. */
type Stored<T extends { metadata?: V1ObjectMeta }> = Omit<
  Wire<T>,
  'apiVersion' | 'kind' | 'metadata'
> & { metadata: ObjectMeta };

export type PodObject = Stored<V1Pod>;
export type ServiceObject = Stored<V1Service>;
export type EndpointsObject = Stored<V1Endpoints>;
export type EventObject = Stored<CoreV1Event>;
export type EndpointObject = Wire<V1Endpoint>;
/** The model requires `endpoints`; the real server writes an empty slice's as null. */
export type EndpointSliceObject = Omit<Stored<V1EndpointSlice>, 'endpoints'> & {
  endpoints: EndpointObject[] | null;
};

/** What the store holds for each resource the emulated API serves. */
export interface ObjectsByResource {
  pods: PodObject;
  endpoints: EndpointsObject;
  endpointslices: EndpointSliceObject;
  events: EventObject;
  services: ServiceObject;
}

/** The resources the emulated API serves, by their plural name. */
export type ResourceName = keyof ObjectsByResource;
