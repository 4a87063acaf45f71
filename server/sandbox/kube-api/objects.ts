import 'server-only';

// What every object the sandbox writes is made of: generated names and uids, timestamps,
// managedFields entries, the ports of the Erlang distribution, and the one Service.

import { randomBytes, randomUUID } from 'node:crypto';

import type { V1ManagedFieldsEntry } from '@kubernetes/client-node';

import type { ServiceObject, Wire } from './models';

/** Kubernetes' `rand.SafeEncodeString` alphabet: no vowels, no look-alikes (generated names). */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A random string in the alphabet Kubernetes uses for generated name suffixes. */
export function randomSuffix(length: number): string {
  const bytes = randomBytes(length);
  return [...bytes].map((byte) => SAFE_ALPHABET[byte % SAFE_ALPHABET.length]).join('');
}

/** RFC 3339 at second precision, as `metav1.Time` serializes. */
export function timestamp(at: number = Date.now()): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const newUid = (): string => randomUUID();

/**
 * A `managedFields` entry whose `fieldsV1` lists the fields of `fields` the way server-side apply
 * records them (`f:name` per key, `.` for a map that is itself owned). Lists are recorded as owned
 * leaves, which is coarser than the real server's `k:`/`v:` keys but has the same shape.
 */
export function managedFieldsEntry(
  manager: string,
  apiVersion: string,
  fields: Record<string, unknown>,
  at: number,
  subresource?: string,
): Wire<V1ManagedFieldsEntry> {
  const describe = (value: unknown): Record<string, unknown> => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
    const entries = Object.entries(value as Record<string, unknown>).filter(
      ([, inner]) => inner !== undefined,
    );
    return {
      '.': {},
      ...Object.fromEntries(entries.map(([name, inner]) => [`f:${name}`, describe(inner)])),
    };
  };
  const top = describe(fields);
  delete top['.'];
  return {
    manager,
    operation: 'Update',
    apiVersion,
    time: timestamp(at),
    fieldsType: 'FieldsV1',
    fieldsV1: top,
    ...(subresource ? { subresource } : {}),
  };
}

/** What the emulator needs to know about the Service it plays the controllers for. */
export interface ServiceSpec {
  name: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
}

/** The Erlang distribution port the sandbox's pods and Service expose (epmd-less, fixed). */
export const DIST_PORT = 9100;
export const EPMD_PORT = 4369;

/** The Service's ports as its EndpointSlices and Endpoints list them. */
export const ENDPOINT_PORTS = [
  { name: 'dist', port: DIST_PORT, protocol: 'TCP' },
  { name: 'epmd', port: EPMD_PORT, protocol: 'TCP' },
];

/** A headless Service, as Erlang clusters usually run behind (one A record per pod). */
export function buildService(
  service: ServiceSpec,
  namespace: string,
  uid: string,
  createdAt: number,
): ServiceObject {
  const spec = {
    clusterIP: 'None',
    clusterIPs: ['None'],
    internalTrafficPolicy: 'Cluster',
    ipFamilies: ['IPv4'],
    ipFamilyPolicy: 'SingleStack',
    ports: [
      { name: 'dist', port: DIST_PORT, protocol: 'TCP', targetPort: DIST_PORT },
      { name: 'epmd', port: EPMD_PORT, protocol: 'TCP', targetPort: EPMD_PORT },
    ],
    publishNotReadyAddresses: false,
    selector: service.selector,
    sessionAffinity: 'None',
    type: 'ClusterIP',
  };
  return {
    metadata: {
      name: service.name,
      namespace,
      uid,
      resourceVersion: '',
      creationTimestamp: timestamp(createdAt),
      labels: service.labels,
      managedFields: [
        managedFieldsEntry(
          'kubectl-client-side-apply',
          'v1',
          { metadata: { labels: service.labels }, spec },
          createdAt,
        ),
      ],
    },
    spec,
    status: { loadBalancer: {} },
  };
}
