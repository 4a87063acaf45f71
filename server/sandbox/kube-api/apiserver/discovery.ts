import 'server-only';

// Discovery: the documents kubectl and client libraries read to learn the server's version and
// which groups, versions and resources it serves, with the verbs and short names of each.

import { apiVersionOf, resources, type ResourceDefinition } from '../resources';

/** The version a 1.33 API server reports; 1.33 is where v1 Endpoints became deprecated. */
export const SERVER_VERSION = {
  major: '1',
  minor: '33',
  emulationMajor: '1',
  emulationMinor: '33',
  minCompatibilityMajor: '1',
  minCompatibilityMinor: '32',
  gitVersion: 'v1.33.1',
  gitCommit: '8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828',
  gitTreeState: 'clean',
  buildDate: '2025-05-15T08:19:08Z',
  goVersion: 'go1.24.2',
  compiler: 'gc',
  platform: 'linux/amd64',
};

/** The verbs a real server offers; the sandbox's token holds only get/list/watch (others get 403). */
const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const DISCOVERY_GROUP = 'discovery.k8s.io';

function apiResource(definition: ResourceDefinition) {
  return {
    name: definition.name,
    singularName: definition.singularName,
    namespaced: true,
    kind: definition.kind,
    verbs: VERBS,
    ...(definition.shortNames ? { shortNames: definition.shortNames } : {}),
    ...(definition.categories ? { categories: definition.categories } : {}),
  };
}

/** `GET /api`: the legacy core group's versions. */
export function coreVersions(serverAddress: string) {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

/**
 * The review resources the server answers: created and answered at once, never stored, so a real
 * server lists them cluster-scoped with the one verb `create`. `kubectl auth can-i` and
 * `kubectl auth whoami` look for them here before they post.
 */
const REVIEW_RESOURCES: Record<string, Array<{ name: string; kind: string }>> = {
  'authentication.k8s.io/v1': [
    { name: 'selfsubjectreviews', kind: 'SelfSubjectReview' },
    { name: 'tokenreviews', kind: 'TokenReview' },
  ],
  'authorization.k8s.io/v1': [
    { name: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview' },
    { name: 'subjectaccessreviews', kind: 'SubjectAccessReview' },
  ],
};

/**
 * The pods' Eviction subresource as `/api/v1` lists it: its group and version name the Eviction
 * kind the body carries, which is how `kubectl drain` learns it may evict (CheckEvictionSupport).
 */
const POD_EVICTION = {
  name: 'pods/eviction',
  singularName: '',
  namespaced: true,
  group: 'policy',
  version: 'v1',
  kind: 'Eviction',
  verbs: ['create'],
};

/** A named group served at v1 only, as discovery describes it. */
const v1Group = (name: string) => ({
  name,
  versions: [{ groupVersion: `${name}/v1`, version: 'v1' }],
  preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' },
});

/** The named groups, in the order a real server lists them. */
export const NAMED_GROUPS = [
  'authentication.k8s.io',
  'authorization.k8s.io',
  DISCOVERY_GROUP,
] as const;

/** `GET /apis`: the named groups served. */
export const groupList = () => ({
  kind: 'APIGroupList',
  apiVersion: 'v1',
  groups: NAMED_GROUPS.map(v1Group),
});

/** `GET /apis/<group>`: one named group, or undefined when it is not served. */
export function group(name: string) {
  if (!(NAMED_GROUPS as readonly string[]).includes(name)) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...v1Group(name) };
}

/** `GET /api/v1` or `GET /apis/<group>/v1`: the resources of one group version. */
export function resourceList(groupVersion: string) {
  const reviews = REVIEW_RESOURCES[groupVersion];
  if (reviews) {
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion,
      resources: reviews.map(({ name, kind }) => ({
        name,
        singularName: name.replace(/s$/, ''),
        namespaced: false,
        kind,
        verbs: ['create'],
      })),
    };
  }
  const served = Object.values(resources).filter(
    (definition) => apiVersionOf(definition) === groupVersion,
  );
  if (served.length === 0) return undefined;
  const subresources = groupVersion === 'v1' ? [POD_EVICTION] : [];
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: [...served.map(apiResource), ...subresources].sort((a, b) =>
      a.name.localeCompare(b.name),
    ),
  };
}
