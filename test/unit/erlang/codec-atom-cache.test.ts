import { describe, expect, it } from 'vitest';

import { ATOM_CACHE_SLOTS, cachedAtomCount } from '@/server/erlang/codec/atom-cache';
import {
  atom,
  decodeCachedAtomNames,
  decodeTerm,
  encodeTerm,
  liveAtomCount,
  type Term,
} from '@/server/erlang/codec';

import { forceGc } from '../fuzz/support';

/** A list of `count` atoms named `prefix0`, `prefix1`, … as a peer sends it (SMALL_ATOM_UTF8). */
function atomList(prefix: string, from: number, count: number): Uint8Array {
  const names: string[] = [];
  for (let index = from; index < from + count; index++) names.push(`${prefix}${index}`);
  return encodeTerm(names.map((name) => atom(name)));
}

const decodedLength = (bytes: Uint8Array): number => (decodeTerm(bytes) as Term[]).length;

describe("the decoder's atom cache", () => {
  it('returns the interned atom for names decoded again, in every atom encoding', () => {
    const node = atom('sim1@10.42.0.1');
    const utf8 = encodeTerm(node);
    // ATOM_EXT (latin-1, 2-byte length) spelling of the same name.
    const latin1 = Buffer.from([131, 100, 0, node.name.length, ...Buffer.from(node.name)]);
    for (let round = 0; round < 3; round++) {
      expect(decodeTerm(utf8)).toBe(node);
      expect(decodeTerm(latin1)).toBe(node);
    }
    const nonAscii = atom('nœud@hôte');
    expect(decodeTerm(encodeTerm(nonAscii))).toBe(nonAscii);
    expect(decodeTerm(encodeTerm(nonAscii))).toBe(nonAscii);
    const long = atom('x'.repeat(200));
    expect(decodeTerm(encodeTerm(long))).toBe(long);
  });

  it('tells apart names that share a slot or a prefix', () => {
    const names = ['a', 'ab', 'abc', 'b', 'ba', ''].map((name) => atom(name));
    for (let round = 0; round < 2; round++) {
      for (const name of names) expect(decodeTerm(encodeTerm(name))).toBe(name);
    }
    // More names than slots: every one still decodes to itself, whatever it displaced.
    const many = atomList('collide', 0, ATOM_CACHE_SLOTS * 2);
    const decoded = decodeTerm(many) as Term[];
    const again = decodeTerm(many) as Term[];
    for (let index = 0; index < decoded.length; index++) {
      expect(again[index]).toBe(decoded[index]);
      expect((again[index] as { name: string }).name).toBe(`collide${index}`);
    }
    // And so does the list reader, which compares in place with the bytes a slot keeps.
    const expected = decoded.map((name) => (name as { name: string }).name);
    for (let round = 0; round < 2; round++) expect(decodeCachedAtomNames(many)).toEqual(expected);
  });

  it('stays bounded over 1,000,000 distinct atoms, and an atom held meanwhile keeps its identity', async () => {
    const held = decodeTerm(encodeTerm(atom('held@node'))) as Term;
    const batch = 50_000;
    for (let from = 0; from < 1_000_000; from += batch) {
      // In a function of its own: an async function's locals live on across its awaits.
      expect(decodedLength(atomList('hostile', from, batch))).toBe(batch);
      expect(cachedAtomCount()).toBeLessThanOrEqual(ATOM_CACHE_SLOTS);
      // Let the weak table drop the atoms nobody holds, as a running server does between frames.
      if (from % 200_000 === 0) await forceGc();
    }
    expect(cachedAtomCount()).toBeLessThanOrEqual(ATOM_CACHE_SLOTS);
    // What stays interned once the finalizers have run (in batches, over several tasks): the
    // cache's atoms and the few this process holds, not a million.
    const bound = ATOM_CACHE_SLOTS + 10_000;
    for (let round = 0; round < 100 && liveAtomCount() >= bound; round++) await forceGc();
    expect(liveAtomCount()).toBeLessThan(bound);
    expect(decodeTerm(encodeTerm(atom('held@node')))).toBe(held);
    expect(atom('held@node')).toBe(held);
  }, 120_000);
});
