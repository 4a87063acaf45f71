import 'server-only';

// What the real API server refuses in the endpoint objects it is asked to store: the rules of
// k8s.io/kubernetes pkg/apis/core/validation (ValidateEndpoints, ValidateNonSpecialIP) and
// pkg/apis/discovery/validation (ValidateEndpointSlice), with their field paths and messages. The
// store applies them to every write of Endpoints and EndpointSlices, whoever makes it, so the
// sandbox cannot publish an address (a loopback one, say) that a real cluster would never hold.

import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';

import { statusObject, type Status } from './apiserver/respond';
import type { EndpointSliceObject, EndpointsObject, ResourceName, StoredObject } from './models';

/** One `field.Error`: what `field.ErrorList` holds and a 422's `details.causes` lists. */
export interface FieldError {
  field: string;
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported';
  /** `ErrorBody()`: the message without the field path. */
  body: string;
}

const invalid = (field: string, value: string, detail: string): FieldError => ({
  field,
  reason: 'FieldValueInvalid',
  body: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
});

const required = (field: string, detail = ''): FieldError => ({
  field,
  reason: 'FieldValueRequired',
  body: detail ? `Required value: ${detail}` : 'Required value',
});

/** Go's net.IP predicates by range; an IPv4-mapped IPv6 address matches its IPv4 range, as in Go. */
function ranges(subnets: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const list = new BlockList();
  for (const [network, prefix, family] of subnets) list.addSubnet(network, prefix, family);
  return list;
}
const UNSPECIFIED = ranges([
  ['0.0.0.0', 32, 'ipv4'],
  ['::', 128, 'ipv6'],
]);
const LOOPBACK = ranges([
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
]);
const LINK_LOCAL = ranges([
  ['169.254.0.0', 16, 'ipv4'],
  ['fe80::', 10, 'ipv6'],
]);
// Go's IsLinkLocalMulticast: 224.0.0.0/24, and ff02::/16 with any flags (ffX2::/16).
const LINK_LOCAL_MULTICAST = ranges([
  ['224.0.0.0', 24, 'ipv4'],
  ...Array.from({ length: 16 }, (_, flags) => [`ff${flags.toString(16)}2::`, 16, 'ipv6'] as const),
] as Array<[string, number, 'ipv4' | 'ipv6']>);

/** `ValidateNonSpecialIP`: a valid IP that is not unspecified, loopback or link-local. */
export function nonSpecialIpErrors(ip: string, field: string): FieldError[] {
  const family = isIP(ip) === 4 ? 'ipv4' : isIP(ip) === 6 ? 'ipv6' : undefined;
  if (!family) return [invalid(field, ip, 'must be a valid IP address')];
  const errors: FieldError[] = [];
  if (UNSPECIFIED.check(ip, family)) {
    errors.push(invalid(field, ip, `may not be unspecified (${ip})`));
  }
  if (LOOPBACK.check(ip, family)) {
    errors.push(invalid(field, ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  }
  if (LINK_LOCAL.check(ip, family)) {
    errors.push(
      invalid(field, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'),
    );
  }
  if (LINK_LOCAL_MULTICAST.check(ip, family)) {
    errors.push(
      invalid(field, ip, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'),
    );
  }
  return errors;
}

/** `ValidateEndpoints`' address rules: every address and not-ready address of every subset. */
export function endpointsErrors(endpoints: EndpointsObject): FieldError[] {
  const errors: FieldError[] = [];
  (endpoints.subsets ?? []).forEach((subset, index) => {
    const path = `subsets[${index}]`;
    if ((subset.addresses ?? []).length === 0 && (subset.notReadyAddresses ?? []).length === 0) {
      errors.push(required(path, 'must specify `addresses` or `notReadyAddresses`'));
    }
    for (const [list, addresses] of [
      ['addresses', subset.addresses ?? []],
      ['notReadyAddresses', subset.notReadyAddresses ?? []],
    ] as const) {
      addresses.forEach((address, at) => {
        errors.push(...nonSpecialIpErrors(address.ip, `${path}.${list}[${at}].ip`));
      });
    }
  });
  return errors;
}

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];

/** `ValidateEndpointSlice`'s address rules: the address type, and each endpoint's addresses. */
export function endpointSliceErrors(slice: EndpointSliceObject): FieldError[] {
  const type = slice.addressType as string | undefined;
  if (!type) return [required('addressType')];
  if (!ADDRESS_TYPES.includes(type)) {
    return [
      {
        field: 'addressType',
        reason: 'FieldValueNotSupported',
        body: `Unsupported value: ${JSON.stringify(type)}: supported values: ${ADDRESS_TYPES.map((name) => JSON.stringify(name)).join(', ')}`,
      },
    ];
  }
  const errors: FieldError[] = [];
  (slice.endpoints ?? []).forEach((endpoint, index) => {
    const path = `endpoints[${index}].addresses`;
    const addresses = endpoint.addresses ?? [];
    if (addresses.length === 0) errors.push(required(path, 'must contain at least 1 address'));
    addresses.forEach((address, at) => {
      const field = `${path}[${at}]`;
      if (type === 'FQDN') return;
      const family = type === 'IPv4' ? isIPv4(address) : isIPv6(address);
      if (!family) errors.push(invalid(field, address, `must be a valid ${type} address`));
      errors.push(...nonSpecialIpErrors(address, field));
    });
  });
  return errors;
}

const KINDS: Partial<Record<ResourceName, { kind: string; group: string }>> = {
  endpoints: { kind: 'Endpoints', group: '' },
  endpointslices: { kind: 'EndpointSlice', group: 'discovery.k8s.io' },
};

/**
 * The 422 Invalid Status a real server answers a create, update or patch of `object` with, or
 * undefined when it would store it. Only Endpoints and EndpointSlices are checked.
 */
export function invalidStatus(resource: ResourceName, object: StoredObject): Status | undefined {
  const errors =
    resource === 'endpoints'
      ? endpointsErrors(object as EndpointsObject)
      : resource === 'endpointslices'
        ? endpointSliceErrors(object as unknown as EndpointSliceObject)
        : [];
  const kind = KINDS[resource];
  if (errors.length === 0 || !kind) return undefined;
  const name = object.metadata.name;
  const lines = errors.map((error) => `${error.field}: ${error.body}`);
  const aggregate = lines.length === 1 ? lines[0] : `[${lines.join(', ')}]`;
  const qualified = kind.group ? `${kind.kind}.${kind.group}` : kind.kind;
  return statusObject(
    422,
    'Invalid',
    `${qualified} ${JSON.stringify(name)} is invalid: ${aggregate}`,
    {
      name,
      ...(kind.group ? { group: kind.group } : {}),
      kind: kind.kind,
      causes: errors.map((error) => ({
        reason: error.reason,
        message: error.body,
        field: error.field,
      })),
    },
  );
}
