import { duplexPair } from 'node:stream';

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

import { encodeFrame } from '@/server/erlang/frames';
import {
  challengeDigest,
  parseChallenge,
  parseChallengeAck,
  parseStatus,
  performHandshake,
} from '@/server/erlang/handshake';
import { BeamscopeError } from '@/server/errors';
import { OTP25_FLAGS } from '@/test/support/hostile-peer';

import { FuzzTarget, timeoutFor } from './support';

/**
 * The handshake is the first thing a peer (or anything listening on a pod's distribution port)
 * sends us. Its parsers give a value or a typed `protocol` / `auth_failed` error; a whole
 * handshake driven over an in-memory stream pair settles (the per-case bound catches a hang).
 */
const target = new FuzzTarget('handshake', 'handshake parser');
/** Whole handshakes cost far more than a parser call: they get a smaller share of the cases. */
const RUNS = target.split({
  statusArbitrary: 12,
  statusMutated: 12,
  challengeArbitrary: 15,
  challengeMutated: 15,
  ackArbitrary: 12,
  ackMutated: 12,
  streams: 10,
  validStreams: 2,
});
/** A handshake over an in-memory stream must settle well within this. */
const STREAM_CASE_TIMEOUT_MS = 2_000;

const COOKIE = 'fuzz_cookie';
const TARGET = 'app@127.0.0.1';
const LOCAL = 'beamscope_fuzz@127.0.0.1';
const OUR_CHALLENGE = 0x1234_5678;

/** The error codes the handshake may raise. */
const HANDSHAKE_CODES = new Set(['protocol', 'auth_failed', 'otp_too_old', 'node_name_mismatch']);

function expectHandshakeError(error: unknown): void {
  if (!(error instanceof BeamscopeError)) throw error;
  // Plain checks, not expect(): this runs a million times.
  if (error.surface !== 'erlang' || !HANDSHAKE_CODES.has(error.code)) throw error;
}

/** Runs a parser: success, or one of the module's typed errors; anything else fails the case. */
function parsesOrRejects(parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    expectHandshakeError(error);
  }
}

const STATUSES = ['ok', 'ok_simultaneous', 'nok', 'not_allowed', 'alive'];

function statusBody(status: string): Buffer {
  return Buffer.concat([Buffer.from('s'), Buffer.from(status, 'latin1')]);
}

function challengeBody(name: string, challenge: number, flags: bigint = OTP25_FLAGS): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const body = Buffer.alloc(19 + nameBytes.length);
  body[0] = 0x4e;
  body.writeBigUInt64BE(flags, 1);
  body.writeUInt32BE(challenge >>> 0, 9);
  body.writeUInt32BE(7, 13);
  body.writeUInt16BE(nameBytes.length, 17);
  nameBytes.copy(body, 19);
  return body;
}

function ackBody(digest: Buffer): Buffer {
  return Buffer.concat([Buffer.from('a'), digest]);
}

type Mutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 8 }),
  }),
);

/** Applies `mutations` in order; positions wrap around the current length. */
function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(input);
  for (const mutation of mutations) {
    const at = bytes.length === 0 ? 0 : mutation.at % (bytes.length + 1);
    switch (mutation.kind) {
      case 'flip':
        if (bytes.length > 0) bytes[at % bytes.length] = mutation.value;
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

const mutationsArbitrary = fc.array(mutationArbitrary, { minLength: 1, maxLength: 4 });
const bytesArbitrary = fc
  .uint8Array({ maxLength: 64 })
  .map((array) => Buffer.from(array.buffer, array.byteOffset, array.byteLength));
/** Arbitrary bytes, often starting with the tag the parser under test looks for. */
const taggedBytes = (tag: string) =>
  fc.oneof(
    bytesArbitrary,
    bytesArbitrary.map((bytes) => Buffer.concat([Buffer.from(tag, 'latin1'), bytes])),
  );

const validStatus = fc.constantFrom(...STATUSES).map(statusBody);
const validChallenge = fc
  .tuple(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.integer({ min: 0, max: 0xffff_ffff }),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  )
  .map(([name, challenge, flags]) => challengeBody(name, challenge, flags));
const validAck = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((d) => ackBody(Buffer.from(d)));

/** A peer's full valid answer to our name, for our fixed challenge and cookie. */
function validTranscript(status: string, challenge: number, headerBytes: 2 | 4): Buffer {
  return Buffer.concat([
    encodeFrame(statusBody(status), headerBytes),
    encodeFrame(challengeBody(TARGET, challenge), headerBytes),
    encodeFrame(ackBody(challengeDigest(OUR_CHALLENGE, COOKIE)), headerBytes),
  ]);
}

/**
 * Runs our side of the handshake against a peer that sends `bytes` in `chunks` and then closes.
 * Resolves with whether the handshake succeeded; fails the case on a non-Beamscope error or a hang.
 */
async function handshakeWithPeerBytes(
  bytes: Buffer,
  chunkSizes: readonly number[],
  headerBytes: 2 | 4,
): Promise<boolean> {
  const [client, server] = duplexPair();
  server.resume(); // Whatever we send is read and dropped.
  const outcome = performHandshake(client, {
    target: TARGET,
    localName: LOCAL,
    cookie: COOKIE,
    headerBytes,
    localCreation: 1,
    ourChallenge: OUR_CHALLENGE,
    // An `alive` status goes on to the challenge, so the rest of the transcript is exercised.
    takeOverEarlierConnection: true,
  }).then(
    (result) => {
      if (result.peerName !== TARGET) throw new Error(`handshake with ${result.peerName}`);
      return true;
    },
    (error: unknown) => {
      expectHandshakeError(error);
      return false;
    },
  );
  let offset = 0;
  for (const size of chunkSizes) {
    if (offset >= bytes.length) break;
    server.write(bytes.subarray(offset, offset + size));
    offset += size;
  }
  if (offset < bytes.length) server.write(bytes.subarray(offset));
  server.end();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the handshake did not settle within ${STREAM_CASE_TIMEOUT_MS} ms`)),
      STREAM_CASE_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([outcome, hang]);
  } finally {
    clearTimeout(timer);
    client.destroy();
    server.destroy();
  }
}

afterAll(async () => {
  const record = await target.finish();
  expect(record.failures, JSON.stringify(record.failureDetails)).toBe(0);
});

describe(`handshake parser fuzzing (${target.requested} cases)`, () => {
  it(
    'parseStatus: arbitrary and mutated bodies give a status or a protocol error',
    async () => {
      target.check('status: arbitrary', RUNS.statusArbitrary, [taggedBytes('s')], (body) =>
        parsesOrRejects(() => parseStatus(body)),
      );
      await target.markWarm();
      target.check(
        'status: mutated',
        RUNS.statusMutated,
        [validStatus, mutationsArbitrary],
        (body, mutations) => parsesOrRejects(() => parseStatus(mutate(body, mutations))),
      );
    },
    timeoutFor(RUNS.statusArbitrary + RUNS.statusMutated, 0.15),
  );

  it(
    'parseChallenge: arbitrary and mutated bodies give a challenge or a protocol error',
    () => {
      target.check('challenge: arbitrary', RUNS.challengeArbitrary, [taggedBytes('N')], (body) =>
        parsesOrRejects(() => parseChallenge(body)),
      );
      target.check(
        'challenge: mutated',
        RUNS.challengeMutated,
        [validChallenge, mutationsArbitrary],
        (body, mutations) =>
          parsesOrRejects(() => {
            const peer = parseChallenge(mutate(body, mutations));
            if (typeof peer.name !== 'string') throw new Error('a challenge without a name');
          }),
      );
    },
    timeoutFor(RUNS.challengeArbitrary + RUNS.challengeMutated, 0.15),
  );

  it(
    'parseChallengeAck: arbitrary and mutated bodies give a digest or a protocol error',
    () => {
      const sixteen = (digest: Buffer) => {
        if (digest.length !== 16) throw new Error(`a ${digest.length}-byte digest`);
      };
      target.check('ack: arbitrary', RUNS.ackArbitrary, [taggedBytes('a')], (body) =>
        parsesOrRejects(() => sixteen(parseChallengeAck(body))),
      );
      target.check(
        'ack: mutated',
        RUNS.ackMutated,
        [validAck, mutationsArbitrary],
        (body, mutations) =>
          parsesOrRejects(() => sixteen(parseChallengeAck(mutate(body, mutations)))),
      );
    },
    timeoutFor(RUNS.ackArbitrary + RUNS.ackMutated, 0.15),
  );

  it(
    'performHandshake: mutated, truncated and arbitrary peer bytes settle with a typed result',
    async () => {
      const peerBytes = fc.oneof(
        {
          weight: 3,
          arbitrary: bytesArbitrary.map((bytes) => ({ bytes, headerBytes: 2 as 2 | 4 })),
        },
        {
          weight: 5,
          arbitrary: fc
            .tuple(
              fc.constantFrom(...STATUSES),
              fc.integer({ min: 0, max: 0xffff_ffff }),
              fc.constantFrom<2 | 4>(2, 4),
              mutationsArbitrary,
            )
            .map(([status, challenge, headerBytes, mutations]) => ({
              bytes: mutate(validTranscript(status, challenge, headerBytes), mutations),
              headerBytes,
            })),
        },
      );
      await target.checkAsync(
        'whole handshakes: hostile bytes',
        RUNS.streams,
        [peerBytes, fc.array(fc.integer({ min: 1, max: 32 }), { maxLength: 6 })],
        async ({ bytes, headerBytes }, chunkSizes) => {
          await handshakeWithPeerBytes(bytes, chunkSizes, headerBytes);
        },
      );
    },
    timeoutFor(RUNS.streams, 1),
  );

  it(
    'performHandshake: the unmutated transcript succeeds, however it is chunked',
    async () => {
      let succeeded = 0;
      await target.checkAsync(
        'whole handshakes: valid transcripts',
        RUNS.validStreams,
        [
          fc.constantFrom('ok', 'ok_simultaneous', 'alive'),
          fc.integer({ min: 0, max: 0xffff_ffff }),
          fc.constantFrom<2 | 4>(2, 4),
          fc.array(fc.integer({ min: 1, max: 32 }), { maxLength: 6 }),
        ],
        async (status, challenge, headerBytes, chunkSizes) => {
          const ok = await handshakeWithPeerBytes(
            validTranscript(status, challenge, headerBytes),
            chunkSizes,
            headerBytes,
          );
          if (!ok) throw new Error('a valid transcript was refused');
          succeeded += 1;
        },
      );
      // The harness can reach success: the hostile cases above are not all trivially refused.
      expect(succeeded).toBe(RUNS.validStreams);
    },
    timeoutFor(RUNS.validStreams, 1),
  );
});
