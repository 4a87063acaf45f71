import 'server-only';

// The catalogue of resources the emulated API serves: names for discovery, the fields a
// fieldSelector may name, and the columns and cells of the Table kubectl prints.

import type {
  EndpointSliceObject,
  EndpointsObject,
  EventObject,
  PodObject,
  ResourceName,
  ServiceObject,
  StoredObject,
} from './models';

/** A column of a `meta.k8s.io/v1` Table; priority 1 columns show only with `kubectl -o wide`. */
export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  format: string;
  description: string;
  priority: number;
}

/** How one resource is named, discovered, selected by field and printed as a Table. */
export interface ResourceDefinition<O extends StoredObject = StoredObject> {
  name: ResourceName;
  singularName: string;
  kind: string;
  group: string; // '' = core
  version: string;
  shortNames?: string[];
  categories?: string[];
  /** Fields a `fieldSelector` may name, with how to read them. */
  fields: Record<string, (object: O) => string | undefined>;
  columns: TableColumn[];
  cells(object: O, now: number): Array<string | number>;
}

/**
 * A definition written against its resource's model. The API hands a definition only objects of
 * its own resource (the store keeps a table per resource), which is what makes the widening sound.
 */
const define = <O extends StoredObject>(definition: ResourceDefinition<O>) =>
  definition as unknown as ResourceDefinition;

/** `apiVersion` of a resource as objects carry it: `v1` or `group/version`. */
export const apiVersionOf = (definition: ResourceDefinition): string =>
  definition.group ? `${definition.group}/${definition.version}` : definition.version;

/** Kubernetes' `duration.HumanDuration`, which the server uses for every AGE / LAST SEEN cell. */
export function humanDuration(milliseconds: number): string {
  const seconds = Math.floor(milliseconds / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0
      ? `${Math.floor(hours / 24)}d`
      : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  return `${Math.floor(hours / 24 / 365)}y`;
}

const since = (timestamp: unknown, now: number): string =>
  typeof timestamp === 'string' ? humanDuration(now - Date.parse(timestamp)) : '<unknown>';

const nameColumn: TableColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description:
    'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  priority: 0,
};
const ageColumn: TableColumn = {
  name: 'Age',
  type: 'string',
  format: '',
  description:
    'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
  priority: 0,
};
const column = (name: string, description: string, priority = 0): TableColumn => ({
  name,
  type: 'string',
  format: '',
  description,
  priority,
});

const metadataFields = {
  'metadata.name': (object: StoredObject) => object.metadata.name,
  'metadata.namespace': (object: StoredObject) => object.metadata.namespace,
};

function podStatus(pod: PodObject): string {
  if (pod.metadata.deletionTimestamp) return 'Terminating';
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
  if (typeof waiting === 'string') return waiting;
  return pod.status?.phase ?? 'Pending';
}

function listWithMore(values: string[], none: string): string {
  if (values.length === 0) return none;
  const shown = values.slice(0, 3).join(',');
  return values.length > 3 ? `${shown} + ${values.length - 3} more...` : shown;
}

/** The resources served, keyed by plural name. */
export const resources: Record<ResourceName, ResourceDefinition> = {
  pods: define<PodObject>({
    name: 'pods',
    singularName: 'pod',
    kind: 'Pod',
    group: '',
    version: 'v1',
    shortNames: ['po'],
    categories: ['all'],
    fields: {
      ...metadataFields,
      'spec.nodeName': (pod) => pod.spec?.nodeName,
      'status.phase': (pod) => pod.status?.phase,
      'status.podIP': (pod) => pod.status?.podIP,
    },
    columns: [
      nameColumn,
      column('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
      column('Status', 'The aggregate status of the containers in this pod.'),
      column(
        'Restarts',
        'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      ),
      ageColumn,
      column('IP', 'The IP address assigned to the pod', 1),
      column('Node', 'The name of the node which the pod is assigned to', 1),
      column('Nominated Node', 'The name of the node where the pod is nominated to', 1),
      column('Readiness Gates', 'The readiness gates of the pod', 1),
    ],
    cells(pod, now) {
      const statuses = pod.status?.containerStatuses ?? [];
      const containers = pod.spec?.containers ?? [];
      const ready = statuses.filter((status) => status.ready).length;
      const restarts = statuses.reduce((sum, status) => sum + (status.restartCount ?? 0), 0);
      return [
        pod.metadata.name,
        `${ready}/${containers.length}`,
        podStatus(pod),
        String(restarts),
        since(pod.metadata.creationTimestamp, now),
        pod.status?.podIP ?? '<none>',
        pod.spec?.nodeName ?? '<none>',
        '<none>',
        '<none>',
      ];
    },
  }),
  endpoints: define<EndpointsObject>({
    name: 'endpoints',
    singularName: 'endpoints',
    kind: 'Endpoints',
    group: '',
    version: 'v1',
    shortNames: ['ep'],
    fields: metadataFields,
    columns: [nameColumn, column('Endpoints', 'Endpoints of the service'), ageColumn],
    cells(endpoints, now) {
      const pairs: string[] = [];
      for (const subset of endpoints.subsets ?? []) {
        for (const address of subset.addresses ?? []) {
          const ports = subset.ports ?? [];
          if (ports.length === 0) pairs.push(address.ip);
          for (const port of ports) pairs.push(`${address.ip}:${port.port}`);
        }
      }
      return [
        endpoints.metadata.name,
        listWithMore(pairs, '<none>'),
        since(endpoints.metadata.creationTimestamp, now),
      ];
    },
  }),
  endpointslices: define<EndpointSliceObject>({
    name: 'endpointslices',
    singularName: 'endpointslice',
    kind: 'EndpointSlice',
    group: 'discovery.k8s.io',
    version: 'v1',
    fields: metadataFields,
    columns: [
      nameColumn,
      column('AddressType', 'The IP protocol for this slice'),
      column('Ports', 'The ports in this slice'),
      column('Endpoints', 'The endpoints in this slice'),
      ageColumn,
    ],
    cells(slice, now) {
      const ports = (slice.ports ?? []).map((port) => String(port.port));
      const addresses = (slice.endpoints ?? []).flatMap((endpoint) => endpoint.addresses);
      return [
        slice.metadata.name,
        slice.addressType,
        ports.length === 0 ? '<unset>' : ports.join(','),
        listWithMore(addresses, '<unset>'),
        since(slice.metadata.creationTimestamp, now),
      ];
    },
  }),
  events: define<EventObject>({
    name: 'events',
    singularName: 'event',
    kind: 'Event',
    group: '',
    version: 'v1',
    shortNames: ['ev'],
    fields: {
      ...metadataFields,
      'involvedObject.kind': (event) => event.involvedObject?.kind,
      'involvedObject.name': (event) => event.involvedObject?.name,
      'involvedObject.namespace': (event) => event.involvedObject?.namespace,
      'involvedObject.uid': (event) => event.involvedObject?.uid,
      'involvedObject.fieldPath': (event) => event.involvedObject?.fieldPath,
      reason: (event) => event.reason,
      type: (event) => event.type,
      'source.component': (event) => event.source?.component,
    },
    columns: [
      column('Last Seen', 'The time since the last occurrence of the event'),
      column('Type', 'Type of this event (Normal, Warning)'),
      column('Reason', 'Reason is why the action was taken'),
      column('Object', 'The object that this event is about'),
      column('Subobject', 'The subobject this event is about', 1),
      column('Source', 'The component reporting this event', 1),
      column('Message', 'A human-readable description of the status of this operation.'),
      column('First Seen', 'The time since the first occurrence of the event', 1),
      column('Count', 'The number of times this event has occurred', 1),
      { ...nameColumn, priority: 1 },
    ],
    cells(event, now) {
      // Optional reads where the model says required: an event is printed whatever it holds.
      const involved = event.involvedObject ?? {};
      const source = [event.source?.component, event.source?.host].filter(Boolean).join(', ');
      return [
        since(event.lastTimestamp, now),
        event.type ?? '',
        event.reason ?? '',
        `${String(involved.kind ?? '').toLowerCase()}/${involved.name ?? ''}`,
        involved.fieldPath ?? '',
        source,
        event.message ?? '',
        since(event.firstTimestamp, now),
        event.count ?? 1,
        event.metadata.name,
      ];
    },
  }),
  services: define<ServiceObject>({
    name: 'services',
    singularName: 'service',
    kind: 'Service',
    group: '',
    version: 'v1',
    shortNames: ['svc'],
    categories: ['all'],
    fields: metadataFields,
    columns: [
      nameColumn,
      column('Type', 'The type of the service'),
      column('Cluster-IP', 'The cluster IP of the service'),
      column('External-IP', 'The external IP of the service'),
      column('Port(s)', 'The ports of the service'),
      ageColumn,
      column('Selector', 'The selector of the service', 1),
    ],
    cells(service, now) {
      const ports = (service.spec?.ports ?? []).map((port) => `${port.port}/${port.protocol}`);
      const selector = Object.entries(service.spec?.selector ?? {})
        .map(([key, value]) => `${key}=${value}`)
        .join(',');
      return [
        service.metadata.name,
        service.spec?.type ?? 'ClusterIP',
        service.spec?.clusterIP ?? '<none>',
        '<none>',
        ports.length === 0 ? '<none>' : ports.join(','),
        since(service.metadata.creationTimestamp, now),
        selector || '<none>',
      ];
    },
  }),
};
