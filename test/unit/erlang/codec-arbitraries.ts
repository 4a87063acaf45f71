import fc from 'fast-check';

import {
  atom,
  BitBinary,
  Charlist,
  ErlFloat,
  ErlMap,
  ExportFun,
  ImproperList,
  Pid,
  Port,
  Reference,
  Tuple,
  type Term,
} from '@/server/erlang/codec';
import { termKey } from '@/server/erlang/codec/equality';

/**
 * fast-check arbitraries for Erlang terms, shared by the property tests and the real-node
 * integration test. `nodeNames` lets the integration test avoid the node's own name (a pid that
 * names the local node is checked against the local process table).
 */
export function termArbitrary(
  options: { nodeNames?: string[]; maxDepth?: number } = {},
): fc.Arbitrary<Term> {
  const nodeNames = options.nodeNames ?? ['a@127.0.0.1', 'b@host', 'nonode@nohost'];
  const node = fc.constantFrom(...nodeNames).map(atom);
  const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });

  const integer = fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }),
    // Canonical: bigints only outside the 32-bit signed range.
    fc
      .bigInt({ min: -(1n << 300n), max: 1n << 300n })
      .filter((value) => value < -0x8000_0000n || value > 0x7fff_ffffn),
    fc.constantFrom(0x8000_0000n, -0x8000_0001n, (1n << 64n) - 1n, -(1n << 2100n)),
  );
  const float = fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .map((value) => new ErlFloat(value));
  const atomName = fc.oneof(
    {
      arbitrary: fc.constantFrom('ok', 'error', 'true', 'false', 'nil', 'undefined', '', 'Foo'),
      weight: 4,
    },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 12 }), weight: 4 },
    // Long atoms: SMALL_ATOM_UTF8 up to 255 bytes, ATOM_UTF8 beyond.
    { arbitrary: fc.string({ unit: 'binary', minLength: 60, maxLength: 255 }), weight: 1 },
  );
  const anAtom = atomName.map(atom);
  const binary = fc.uint8Array({ maxLength: 40 });
  const bitBinary = fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 7 }))
    .map(([bytes, bits]) => {
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) & ((0xff << (8 - bits)) & 0xff);
      return new BitBinary(bytes, bits);
    });
  const charlist = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 20 })
    .map((text) => new Charlist(text));
  const pid = fc
    .tuple(node, uint32, uint32, uint32)
    .map(([name, id, serial, creation]) => new Pid(name, id, serial, creation));
  const reference = fc
    .tuple(node, uint32, fc.array(uint32, { minLength: 1, maxLength: 5 }))
    .map(([name, creation, ids]) => new Reference(name, creation, ids));
  const port = fc
    .tuple(node, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), uint32)
    .map(([name, id, creation]) => new Port(name, id, creation));
  const exportFun = fc
    .tuple(anAtom, anAtom, fc.integer({ min: 0, max: 255 }))
    .map(([module, fun, arity]) => new ExportFun(module, fun, arity));

  const leaf: fc.Arbitrary<Term> = fc.oneof(
    integer,
    float,
    anAtom,
    binary,
    bitBinary,
    charlist,
    pid,
    reference,
    port,
    exportFun,
    fc.constant([] as Term[]),
  );

  const { term } = fc.letrec<{ term: Term }>((tie) => {
    const child = tie('term');
    return {
      term: fc.oneof(
        { depthSize: 'small', maxDepth: options.maxDepth ?? 4, withCrossShrink: true },
        leaf,
        fc.array(child, { maxLength: 5 }).map((elements) => new Tuple(elements)),
        fc.array(child, { maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }),
        fc
          .tuple(fc.array(child, { minLength: 1, maxLength: 4 }), leaf)
          .filter(([, tail]) => !(Array.isArray(tail) || tail instanceof Charlist))
          .map(([elements, tail]) => new ImproperList(elements, tail)),
        fc
          .uniqueArray(fc.tuple(child, child), {
            maxLength: 5,
            selector: ([key]) => termKey(key),
          })
          .map((entries) => new ErlMap(entries)),
      ),
    };
  });
  return term;
}
