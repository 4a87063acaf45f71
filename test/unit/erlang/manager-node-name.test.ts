import { describe, expect, it } from 'vitest';

import { processLocalNodeName } from '@/server/erlang/manager';
import { defaultLocalNodeName, localNodeHost, parseNodeName } from '@/server/erlang/node-name';
import { BeamscopeError } from '@/server/errors';

describe('node names', () => {
  it('splits alive@host', () => {
    expect(parseNodeName('myapp@10.0.0.7')).toEqual({
      alive: 'myapp',
      host: '10.0.0.7',
      full: 'myapp@10.0.0.7',
    });
    expect(parseNodeName('my-app_1@pod.svc.cluster.local').host).toBe('pod.svc.cluster.local');
  });

  it('rejects malformed names with invalid_node_name', () => {
    for (const bad of [
      '',
      'noat',
      '@host',
      'name@',
      'a b@host',
      'a@b@c',
      'a@host name',
      "a'b@host",
    ]) {
      let error: unknown;
      try {
        parseNodeName(bad);
      } catch (caught) {
        error = caught;
      }
      expect(error, bad).toBeInstanceOf(BeamscopeError);
      expect((error as BeamscopeError).code).toBe('invalid_node_name');
    }
  });

  it('makes beamscope_<6 hex>@host names', () => {
    expect(defaultLocalNodeName('10.1.2.3')).toMatch(/^beamscope_[0-9a-f]{6}@10\.1\.2\.3$/);
  });

  it('prefers the first external IPv4 address for the host', () => {
    expect(
      localNodeHost({
        lo: [
          {
            address: '127.0.0.1',
            family: 'IPv4',
            internal: true,
            netmask: '',
            mac: '',
            cidr: null,
          },
        ],
        eth0: [
          {
            address: 'fe80::1',
            family: 'IPv6',
            internal: false,
            netmask: '',
            mac: '',
            cidr: null,
            scopeid: 0,
          },
          {
            address: '10.244.0.5',
            family: 'IPv4',
            internal: false,
            netmask: '',
            mac: '',
            cidr: null,
          },
        ],
      }),
    ).toBe('10.244.0.5');
  });

  it('the default name is chosen once per process', () => {
    expect(processLocalNodeName()).toBe(processLocalNodeName());
    expect(() => parseNodeName(processLocalNodeName())).not.toThrow();
  });
});
