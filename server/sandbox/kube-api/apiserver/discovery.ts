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

const discoveryGroup = {
  name: DISCOVERY_GROUP,
  versions: [{ groupVersion: `${DISCOVERY_GROUP}/v1`, version: 'v1' }],
  preferredVersion: { groupVersion: `${DISCOVERY_GROUP}/v1`, version: 'v1' },
};

/** `GET /apis`: the named groups served. */
export const groupList = () => ({
  kind: 'APIGroupList',
  apiVersion: 'v1',
  groups: [discoveryGroup],
});

/** `GET /apis/discovery.k8s.io`. */
export const group = () => ({ kind: 'APIGroup', apiVersion: 'v1', ...discoveryGroup });

/** `GET /api/v1` or `GET /apis/discovery.k8s.io/v1`: the resources of one group version. */
export function resourceList(groupVersion: string) {
  const served = Object.values(resources).filter(
    (definition) => apiVersionOf(definition) === groupVersion,
  );
  if (served.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: served.map(apiResource).sort((a, b) => a.name.localeCompare(b.name)),
  };
}
