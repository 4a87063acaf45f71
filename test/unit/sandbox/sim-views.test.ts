/**
 * The simulated nodes' views: a node in one group answers `erlang:nodes(visible)` with its
 * group's encoded list cut around its own name; the bytes must be what encoding its names gives,
 * in every layout a bench or test asks for (a whole mesh, a split, overlapping groups, a node
 * alone, a node in no group).
 */
import { describe, expect, it } from 'vitest';

import { atom, encodeTerm } from '@/server/erlang/codec';

import { visibility } from '../../support/sim-node/cluster';

const addresses = Array.from({ length: 9 }, (_, index) => `10.0.0.${index + 1}`);
const names = new Map(addresses.map((address) => [address, `app@${address}`]));

describe("the simulated nodes' views", () => {
  it('encode exactly the names each node sees, in every layout', () => {
    const layouts: string[][][] = [
      [addresses],
      [addresses.slice(0, 5), addresses.slice(5)],
      [addresses.slice(0, 6), addresses.slice(3)],
      [addresses.slice(0, 1), addresses.slice(1, 8)],
      [['10.9.9.9', ...addresses.slice(0, 3)]],
    ];
    for (const groups of layouts) {
      const views = visibility(names, groups);
      for (const address of addresses) {
        const view = views.get(address)!;
        const seen = view.names();
        expect(seen).not.toContain(names.get(address));
        expect(view.encoded()).toEqual(encodeTerm(seen.map((name) => atom(name))));
      }
    }
    const whole = visibility(names, [addresses]).get(addresses[4]!)!;
    expect(whole.names()).toEqual(
      addresses.filter((address) => address !== addresses[4]).map((address) => names.get(address)),
    );
  });
});
