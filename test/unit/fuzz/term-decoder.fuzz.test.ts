import { deflateSync } from 'node:zlib';

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

import {
  decodeTerm,
  decodeTermAt,
  encodeTerm,
  formatTerm,
  TermDecodeError,
  termEquals,
  termToJson,
  type Term,
} from '@/server/erlang/codec';
import { FrameReader, parseDistMessage } from '@/server/erlang/frames';
import { BeamscopeError } from '@/server/errors';

import { termArbitrary } from '../erlang/codec-arbitraries';
import { FuzzTarget, timeoutFor } from './support';

/**
 * The term decoder is what a hostile or broken peer talks to: every byte after the handshake
 * goes through FrameReader, parseDistMessage and decodeTermAt. Whatever the bytes, decoding
 * gives a term or a TermDecodeError — never another exception, a hang or unbounded memory — and
 * a decoded term is one the rest of beamscope can re-encode, compare, map to JSON and print.
 */
const target = new FuzzTarget('term-decoder', 'term decoder');
const RUNS = target.split({
  randomBytes: 25,
  mutatedEncodings: 30,
  absurdLengths: 15,
  nesting: 10,
  compressed: 10,
  frames: 10,
});

/**
 * A corpus of valid encodings, sampled once: generating a random term costs far more than
 * mutating bytes, and 1,000,000 cases must fit in minutes. One case in ten still gets a freshly
 * generated term, so the corpus is not all the decoder ever sees.
 */
const CORPUS_TERMS = fc.sample(termArbitrary({ maxDepth: 3 }), {
  numRuns: 2_000,
  seed: target.seed,
});
const CORPUS = CORPUS_TERMS.map((term) => encodeTerm(term));
const DEFLATED = CORPUS.slice(0, 500).map((encoded) => ({
  size: encoded.length - 1,
  deflated: deflateSync(encoded.subarray(1)),
}));
const validEncoding: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 9, arbitrary: fc.nat(CORPUS.length - 1).map((index) => CORPUS[index]!) },
  { weight: 1, arbitrary: termArbitrary({ maxDepth: 3 }).map((term) => encodeTerm(term)) },
);

/** Tags worth writing into a mutated encoding: every one the decoder knows, and some it does not. */
const TAGS = [
  70, 77, 80, 82, 88, 89, 90, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110,
  111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 0, 131, 255,
];

/** Length fields that are absurd, at a boundary, or small. */
const ABSURD_U32 = [
  0, 1, 2, 0x7f, 0xff, 0x100, 0xffff, 0x1_0000, 0xff_ffff, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe,
  0xffff_ffff,
];

/**
 * The property for any input: a term or a TermDecodeError. A term survives what beamscope does
 * with probe replies: re-encoding (the canonical form decodes to an equal term), JSON mapping
 * and printing.
 */
function decodesOrRejects(
  bytes: Uint8Array,
  options?: { maxDepth?: number; maxBytes?: number },
): void {
  let term: Term;
  try {
    term = decodeTerm(bytes, options);
  } catch (error) {
    if (error instanceof TermDecodeError) return;
    throw error;
  }
  // Plain checks, not expect(): this runs a million times. The same depth bound on the way
  // back: the canonical form nests exactly as deep as what was accepted.
  const again = decodeTerm(encodeTerm(term), { maxDepth: options?.maxDepth });
  if (!termEquals(again, term)) throw new Error('the re-encoded term decodes to another term');
  if (typeof JSON.stringify(termToJson(term)) !== 'string') throw new Error('no JSON');
  if (formatTerm(term, { maxLength: 200 }).length > 200) throw new Error('formatTerm overran');
}

type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'tag'; at: number; tag: number }
  | { kind: 'length'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('tag' as const), at: fc.nat(), tag: fc.constantFrom(...TAGS) }),
  fc.record({
    kind: fc.constant('length' as const),
    at: fc.nat(),
    value: fc.constantFrom(...ABSURD_U32),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 6 }),
  }),
);

/** Applies mutations in order; positions wrap around the current length (byte 0 is kept: 131). */
function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = Buffer.from(input);
  for (const mutation of mutations) {
    const at = bytes.length <= 1 ? bytes.length : 1 + (mutation.at % bytes.length);
    switch (mutation.kind) {
      case 'set':
        if (at < bytes.length) bytes[at] = mutation.value;
        break;
      case 'tag':
        if (at < bytes.length) bytes[at] = mutation.tag;
        break;
      case 'length':
        // A 32-bit length field written over whatever is there (lengths follow tags).
        if (at + 4 <= bytes.length) bytes.writeUInt32BE(mutation.value, at);
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at);
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), mutation.bytes, bytes.subarray(at)]);
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + mutation.count)]);
        break;
    }
  }
  return bytes;
}

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
const u32 = (value: number) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
};
const u16 = (value: number) => {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value & 0xffff);
  return out;
};

/** `131, tag, <absurd length in the width the tag uses>, a few bytes`. */
const absurdLength: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.constantFrom(
      { tag: 105, width: 4 }, // LARGE_TUPLE arity
      { tag: 104, width: 1 }, // SMALL_TUPLE arity
      { tag: 108, width: 4 }, // LIST length
      { tag: 116, width: 4 }, // MAP size
      { tag: 109, width: 4 }, // BINARY length
      { tag: 77, width: 4 }, // BIT_BINARY length
      { tag: 111, width: 4 }, // LARGE_BIG size
      { tag: 110, width: 1 }, // SMALL_BIG size
      { tag: 107, width: 2 }, // STRING length
      { tag: 118, width: 2 }, // ATOM_UTF8 length
      { tag: 100, width: 2 }, // ATOM length
      { tag: 112, width: 4 }, // NEW_FUN size
      { tag: 90, width: 2 }, // NEWER_REFERENCE words
      { tag: 80, width: 4 }, // COMPRESSED uncompressed size
    ),
    fc.constantFrom(...ABSURD_U32),
    bytes(24),
    fc.boolean(),
  )
  .map(([{ tag, width }, length, rest, nested]) => {
    const field =
      width === 4 ? u32(length) : width === 2 ? u16(length) : Buffer.from([length & 0xff]);
    const body = Buffer.concat([Buffer.from([tag]), field, rest]);
    // Also as the element of a list, where a list tail continues the list in place.
    return nested
      ? Buffer.concat([Buffer.from([131, 108]), u32(1), Buffer.from([97, 1]), body])
      : Buffer.concat([Buffer.from([131]), body]);
  });

/** The bytes one nesting level opens with, per container kind. */
const LEVEL_BYTES = {
  tuple: [104, 1],
  list: [108, 0, 0, 0, 1],
  // An improper list whose tail is the next level: `[1 | [1 | …]]`.
  tail: [108, 0, 0, 0, 1, 97, 1],
  // A one-entry map whose value is the next level (its key is written per level).
  map: [116, 0, 0, 0, 1, 97, 0],
} as const;
type LevelKind = keyof typeof LEVEL_BYTES;
const MIXED: readonly LevelKind[] = ['tuple', 'list', 'map', 'tail'];

/** Nesting `depth` containers deep, closed by a leaf, by garbage or by nothing at all. */
const nested: fc.Arbitrary<{ bytes: Uint8Array; maxDepth: number | undefined }> = fc
  .tuple(
    fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 0, max: 600 }) },
      { weight: 1, arbitrary: fc.integer({ min: 600, max: 5_000 }) },
    ),
    fc.constantFrom<LevelKind | 'mixed'>('tuple', 'list', 'map', 'tail', 'mixed'),
    fc.constantFrom<'leaf' | 'garbage' | 'short'>('leaf', 'garbage', 'short'),
    fc.option(fc.integer({ min: 0, max: 1_000 }), { nil: undefined }),
  )
  .map(([depth, shape, end, maxDepth]) => {
    const kindAt = (level: number): LevelKind => (shape === 'mixed' ? MIXED[level % 4]! : shape);
    // One buffer, written in place: building 5,000 levels must not dominate the case.
    const out = Buffer.alloc(1 + depth * 7 + 2 + depth);
    let at = 0;
    out[at++] = 131;
    for (let level = 0; level < depth; level++) {
      const kind = kindAt(level);
      for (const byte of LEVEL_BYTES[kind]) out[at++] = byte;
      if (kind === 'map') out[at - 1] = level & 0xff;
    }
    if (end === 'leaf') {
      out[at++] = 97;
      out[at++] = 7;
      // Every list level is closed by its `[]` tail, innermost first (a tuple, a map or a
      // `tail` level needs nothing more: the next level is its last element or its tail).
      for (let level = depth - 1; level >= 0; level--)
        if (kindAt(level) === 'list') out[at++] = 106;
    } else if (end === 'garbage') {
      out[at++] = 200;
    }
    return { bytes: out.subarray(0, at), maxDepth };
  });

/** Precomputed inflation bombs: a few bytes that inflate to megabytes. */
const BOMB_SIZES = [1 << 20, 4 << 20];
const BOMBS = BOMB_SIZES.map((size) => deflateSync(Buffer.alloc(size, 97)));

/** `131, 80, size, deflate(body)` with the size, the body or the deflated bytes wrong. */
const compressed: fc.Arbitrary<{ bytes: Uint8Array; maxBytes: number | undefined }> = fc.oneof(
  {
    weight: 19,
    arbitrary: fc
      .tuple(
        fc.nat(DEFLATED.length - 1),
        fc.constantFrom<'exact' | 'smaller' | 'larger' | 'absurd' | 'zero'>(
          'exact',
          'exact',
          'smaller',
          'larger',
          'absurd',
          'zero',
        ),
        fc.array(mutationArbitrary, { maxLength: 2 }),
        fc.option(fc.constantFrom(16, 64, 1024), { nil: undefined }),
      )
      .map(([index, sizeKind, mutations, maxBytes]) => {
        const { size: exact, deflated } = DEFLATED[index]!;
        const size =
          sizeKind === 'exact'
            ? exact
            : sizeKind === 'smaller'
              ? Math.max(1, exact - 1)
              : sizeKind === 'larger'
                ? exact + 1
                : sizeKind === 'zero'
                  ? 0
                  : 0xffff_ffff;
        const head = Buffer.concat([Buffer.from([131, 80]), u32(size)]);
        // Mutations apply to the deflated stream only (after the size field).
        const tail =
          mutations.length > 0
            ? mutate(Buffer.concat([Buffer.from([131]), deflated]), mutations).subarray(1)
            : deflated;
        return { bytes: Buffer.concat([head, tail]), maxBytes };
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.nat(BOMBS.length - 1),
        fc.constantFrom(1, 1024, 1 << 20, 4 << 20, 64 << 20, (64 << 20) + 1, 0xffff_ffff),
        fc.boolean(),
      )
      .map(([index, declared, small]) => ({
        bytes: Buffer.concat([Buffer.from([131, 80]), u32(declared), BOMBS[index]!]),
        maxBytes: small ? 4096 : undefined,
      })),
  },
);

/** Distribution messages as the connection receives them: framed, chunked, some mutated. */
const frameStream: fc.Arbitrary<{ stream: Buffer; chunks: number[] }> = fc
  .tuple(
    fc.array(fc.tuple(validEncoding, fc.option(validEncoding, { nil: undefined })), {
      minLength: 1,
      maxLength: 3,
    }),
    fc.array(mutationArbitrary, { maxLength: 3 }),
    fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }),
  )
  .map(([messages, mutations, chunks]) => {
    // `length, 112, control[, payload]` per message, as encodeDistMessage frames them.
    const frames = Buffer.concat(
      messages.flatMap(([control, payload]) => {
        const body = payload
          ? [Buffer.from([112]), control, payload]
          : [Buffer.from([112]), control];
        const length = body.reduce((acc, part) => acc + part.length, 0);
        return [u32(length), ...body];
      }),
    );
    return {
      stream: Buffer.from(mutations.length > 0 ? mutate(frames, mutations) : frames),
      chunks,
    };
  });

/** Only typed errors: a TermDecodeError, or the distribution's own protocol / frame errors. */
function typedErrorOnly(run: () => void): void {
  try {
    run();
  } catch (error) {
    if (error instanceof BeamscopeError && error.surface === 'erlang') return;
    throw error;
  }
}

afterAll(async () => {
  const record = await target.finish();
  expect(record.failures, JSON.stringify(record.failureDetails)).toBe(0);
});

describe(`term decoder fuzzing (${target.requested} cases)`, () => {
  it(
    'random bytes, bare and after the version byte, give a term or a TermDecodeError',
    async () => {
      target.check(
        'random bytes',
        RUNS.randomBytes,
        [
          fc.oneof(
            bytes(64),
            bytes(64).map((rest) => Uint8Array.from([131, ...rest])),
          ),
          fc.nat(16),
        ],
        (input, limit) => {
          decodesOrRejects(input);
          typedErrorOnly(() => decodeTermAt(input, 0, { maxDepth: 3, maxBytes: limit }));
        },
      );
      await target.markWarm();
    },
    timeoutFor(RUNS.randomBytes, 0.15),
  );

  it(
    'mutated valid encodings give a term or a TermDecodeError',
    () => {
      target.check(
        'mutated encodings',
        RUNS.mutatedEncodings,
        [validEncoding, fc.array(mutationArbitrary, { minLength: 1, maxLength: 4 })],
        (encoded, mutations) => {
          const mutated = mutate(encoded, mutations);
          decodesOrRejects(mutated);
          decodesOrRejects(mutated.subarray(0, mutated.length >> 1));
        },
      );
    },
    timeoutFor(RUNS.mutatedEncodings, 0.6),
  );

  it(
    'absurd lengths, sizes and arities fail before anything is allocated',
    () => {
      target.check('absurd lengths', RUNS.absurdLengths, [absurdLength], (input) => {
        decodesOrRejects(input);
      });
    },
    timeoutFor(RUNS.absurdLengths, 0.2),
  );

  it(
    'deep and hostile nesting stays within maxDepth and never overflows the stack',
    () => {
      target.check('nesting', RUNS.nesting, [nested], ({ bytes: input, maxDepth }) => {
        decodesOrRejects(input, maxDepth === undefined ? undefined : { maxDepth });
      });
    },
    timeoutFor(RUNS.nesting, 0.8),
  );

  it(
    'compressed terms: wrong sizes, corrupt streams and inflation bombs',
    () => {
      target.check('compressed', RUNS.compressed, [compressed], ({ bytes: input, maxBytes }) => {
        decodesOrRejects(input, maxBytes === undefined ? undefined : { maxBytes });
      });
    },
    timeoutFor(RUNS.compressed, 0.5),
  );

  it(
    'framed distribution messages, chunked and mutated, give messages or typed errors',
    () => {
      target.check('distribution frames', RUNS.frames, [frameStream], ({ stream, chunks }) => {
        const reader = new FrameReader({ headerBytes: 4, maxFrameBytes: 64 * 1024 });
        typedErrorOnly(() => {
          let offset = 0;
          let index = 0;
          while (offset < stream.length) {
            const size = chunks.length > 0 ? chunks[index++ % chunks.length]! : stream.length;
            reader.push(stream.subarray(offset, offset + size));
            offset += size;
            for (let body = reader.next(); body !== undefined; body = reader.next()) {
              if (body.length === 0) continue; // a tick
              if (parseDistMessage(body).control === undefined) throw new Error('no control');
            }
          }
        });
      });
    },
    timeoutFor(RUNS.frames, 0.4),
  );
});
