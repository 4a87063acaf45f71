import { describe, expect, it } from 'vitest';

import { HttpError } from '@/server/sandbox/kube-api/apiserver/respond';
import type { StoredObject } from '@/server/sandbox/kube-api/models';
import { ObjectStore } from '@/server/sandbox/kube-api/store';

const metadata = (name: string) => ({
  name,
  namespace: 'default',
  uid: `uid-${name}`,
  resourceVersion: '',
  creationTimestamp: '2026-01-01T00:00:00Z',
});

const slice = (addresses: string[][], addressType = 'IPv4'): StoredObject => ({
  metadata: metadata('myapp-abcde'),
  addressType,
  endpoints: addresses.map((list) => ({ addresses: list, conditions: { ready: true } })),
  ports: [{ name: 'dist', port: 9100, protocol: 'TCP' }],
});

const endpoints = (ready: string[], notReady: string[] = []): StoredObject => ({
  metadata: metadata('myapp'),
  subsets: [
    {
      addresses: ready.map((ip) => ({ ip })),
      ...(notReady.length ? { notReadyAddresses: notReady.map((ip) => ({ ip })) } : {}),
      ports: [{ name: 'dist', port: 9100, protocol: 'TCP' }],
    },
  ],
});

/** The Status a refused write throws, or undefined when the store took it. */
function refusal(write: () => unknown) {
  try {
    write();
    return undefined;
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
}

describe('the emulated API validates endpoint addresses as a real API server does', () => {
  it('refuses an EndpointSlice with a loopback address: 422 Invalid, field path and message', () => {
    const store = new ObjectStore();
    const status = refusal(() =>
      store.put('endpointslices', slice([['10.244.0.2'], ['127.0.0.3']])),
    );
    expect(status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'EndpointSlice.discovery.k8s.io "myapp-abcde" is invalid: endpoints[1].addresses[0]: Invalid value: "127.0.0.3": may not be in the loopback range (127.0.0.0/8, ::1/128)',
      reason: 'Invalid',
      details: {
        name: 'myapp-abcde',
        group: 'discovery.k8s.io',
        kind: 'EndpointSlice',
        causes: [
          {
            reason: 'FieldValueInvalid',
            message:
              'Invalid value: "127.0.0.3": may not be in the loopback range (127.0.0.0/8, ::1/128)',
            field: 'endpoints[1].addresses[0]',
          },
        ],
      },
      code: 422,
    });
    // Nothing was stored, and no revision was spent.
    expect(store.list('endpointslices')).toEqual([]);
    expect(store.currentRevision).toBe(0);
  });

  it('refuses Endpoints with a loopback address, ready or not', () => {
    const store = new ObjectStore();
    const status = refusal(() => store.put('endpoints', endpoints(['127.0.0.2'], ['127.0.0.9'])));
    expect(status?.code).toBe(422);
    expect(status?.message).toBe(
      'Endpoints "myapp" is invalid: [subsets[0].addresses[0].ip: Invalid value: "127.0.0.2": may not be in the loopback range (127.0.0.0/8, ::1/128), subsets[0].notReadyAddresses[0].ip: Invalid value: "127.0.0.9": may not be in the loopback range (127.0.0.0/8, ::1/128)]',
    );
    expect(status?.details).toMatchObject({ name: 'myapp', kind: 'Endpoints' });
    expect(status?.details).not.toHaveProperty('group');
  });

  it('refuses an update of a stored slice to a refused address, and keeps the stored one', () => {
    const store = new ObjectStore();
    store.put('endpointslices', slice([['10.244.0.2']]));
    expect(refusal(() => store.put('endpointslices', slice([['127.0.0.2']])))?.code).toBe(422);
    expect(store.list('endpointslices')[0]).toMatchObject({
      endpoints: [{ addresses: ['10.244.0.2'] }],
    });
  });

  it.each([
    ['0.0.0.0', 'may not be unspecified (0.0.0.0)'],
    ['::', 'may not be unspecified (::)'],
    ['::1', 'may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ['::ffff:127.0.0.1', 'may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ['169.254.169.254', 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
    ['fe80::1', 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
    ['224.0.0.251', 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'],
    ['ff02::1', 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'],
    ['not-an-ip', 'must be a valid IP address'],
  ])('refuses the special address %s in Endpoints: %s', (ip, detail) => {
    const status = refusal(() => new ObjectStore().put('endpoints', endpoints([ip])));
    expect(status?.details?.causes).toContainEqual({
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(ip)}: ${detail}`,
      field: 'subsets[0].addresses[0].ip',
    });
  });

  it('refuses an IPv6 address in an IPv4 slice, a slice without addressType or address', () => {
    const store = new ObjectStore();
    expect(
      refusal(() => store.put('endpointslices', slice([['2001:db8::1']])))?.details?.causes,
    ).toEqual([
      {
        reason: 'FieldValueInvalid',
        message: 'Invalid value: "2001:db8::1": must be a valid IPv4 address',
        field: 'endpoints[0].addresses[0]',
      },
    ]);
    expect(refusal(() => store.put('endpointslices', slice([[]])))?.message).toBe(
      'EndpointSlice.discovery.k8s.io "myapp-abcde" is invalid: endpoints[0].addresses: Required value: must contain at least 1 address',
    );
    const untyped = { ...slice([['10.244.0.2']]), addressType: undefined };
    expect(refusal(() => store.put('endpointslices', untyped))?.message).toBe(
      'EndpointSlice.discovery.k8s.io "myapp-abcde" is invalid: addressType: Required value',
    );
  });

  it('stores private, routable pod addresses and an empty slice', () => {
    const store = new ObjectStore();
    expect(
      refusal(() => store.put('endpointslices', slice([['10.244.0.2'], ['10.244.1.7']]))),
    ).toBe(undefined);
    expect(refusal(() => store.put('endpointslices', { ...slice([]), endpoints: null }))).toBe(
      undefined,
    );
    expect(refusal(() => store.put('endpoints', endpoints(['10.244.0.2', 'fd00::5'])))).toBe(
      undefined,
    );
  });
});
