import { describe, expect, it } from 'vitest';

import { humanDuration, resources } from '@/server/sandbox/kube-api/resources';
import type { StoredObject } from '@/server/sandbox/kube-api/models';

describe('humanDuration', () => {
  it.each([
    [0, '0s'],
    [119_000, '119s'],
    [125_000, '2m5s'],
    [600_000, '10m'],
    [3 * 3600_000 + 5 * 60_000, '3h5m'],
    [30 * 3600_000, '30h'],
    [3 * 86400_000 + 4 * 3600_000, '3d4h'],
    [100 * 86400_000, '100d'],
  ])('%d ms is %s, as kubectl prints ages', (milliseconds, text) => {
    expect(humanDuration(milliseconds)).toBe(text);
  });
});

describe('table cells', () => {
  it('abbreviates an EndpointSlice past three addresses like the real printer', () => {
    const slice = {
      metadata: {
        name: 'myapp-abcde',
        namespace: 'default',
        uid: 'u',
        resourceVersion: '1',
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
      addressType: 'IPv4',
      ports: [{ port: 9100 }],
      endpoints: ['10.244.0.2', '10.244.0.3', '10.244.0.4', '10.244.0.5'].map((ip) => ({
        addresses: [ip],
      })),
    } as StoredObject;
    const cells = resources.endpointslices.cells(slice, Date.parse('2026-01-01T00:00:42Z'));
    expect(cells).toEqual([
      'myapp-abcde',
      'IPv4',
      '9100',
      '10.244.0.2,10.244.0.3,10.244.0.4 + 1 more...',
      '42s',
    ]);
    expect(
      resources.endpointslices
        .cells({ ...slice, endpoints: null, ports: [] }, Date.parse('2026-01-01T00:00:42Z'))
        .slice(2, 4),
    ).toEqual(['<unset>', '<unset>']);
  });
});
