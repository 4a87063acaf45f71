import { describe, expect, it } from 'vitest';

import {
  addressAt,
  checkMapping,
  compareAddresses,
  inNetwork,
  mapAddress,
} from '@/server/erlang/address-map';

const LOOPBACK = { from: '10.244.0.0/16', to: '127.0.0.0/16' };

describe('the address map', () => {
  it('maps an address of the network onto the other, keeping the host bits', () => {
    expect(mapAddress('10.244.0.2', [LOOPBACK])).toBe('127.0.0.2');
    expect(mapAddress('10.244.3.250', [LOOPBACK])).toBe('127.0.3.250');
    expect(mapAddress('10.244.255.255', [{ from: '10.244.0.0/16', to: '127.12.0.0/16' }])).toBe(
      '127.12.255.255',
    );
  });

  it('leaves names, IPv6 and addresses outside every mapping alone; the first match wins', () => {
    expect(mapAddress('10.245.0.2', [LOOPBACK])).toBe('10.245.0.2');
    expect(mapAddress('myapp-0.myapp.default.svc', [LOOPBACK])).toBe('myapp-0.myapp.default.svc');
    expect(mapAddress('fd00::2', [LOOPBACK])).toBe('fd00::2');
    expect(mapAddress('10.244.0.2', [])).toBe('10.244.0.2');
    expect(
      mapAddress('10.244.0.2', [{ from: '10.244.0.0/24', to: '127.1.1.0/24' }, LOOPBACK]),
    ).toBe('127.1.1.2');
  });

  it('checks that both sides are networks of one size, in one line', () => {
    expect(() => checkMapping(LOOPBACK)).not.toThrow();
    expect(() => checkMapping({ from: '10.244.0.0/16', to: '127.0.0.0/8' })).toThrow(
      'expected networks of the same size, got 10.244.0.0/16 and 127.0.0.0/8 (/16 and /8)',
    );
    expect(() => checkMapping({ from: '10.244.0.0/33', to: '127.0.0.0/16' })).toThrow(
      'expected an IPv4 network such as 10.244.0.0/16, got "10.244.0.0/33"',
    );
  });

  it('numbers, tests and orders addresses of a network', () => {
    expect(addressAt('10.244.0.0/16', 2)).toBe('10.244.0.2');
    expect(addressAt('10.244.0.0/16', 258)).toBe('10.244.1.2');
    expect(() => addressAt('10.244.0.0/30', 4)).toThrow('10.244.0.0/30 has no address number 4');
    expect(inNetwork('10.244.9.9', '10.244.0.0/16')).toBe(true);
    expect(inNetwork('127.0.0.2', '10.244.0.0/16')).toBe(false);
    expect(['10.244.0.10', '10.244.0.9', '10.244.1.0'].sort(compareAddresses)).toEqual([
      '10.244.0.9',
      '10.244.0.10',
      '10.244.1.0',
    ]);
  });
});
