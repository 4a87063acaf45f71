import { duplexPair } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { BeamscopeError } from '@/server/errors';
import {
  challengeDigest,
  DistFlag,
  encodeChallengeReply,
  encodeSendName,
  LOCAL_FLAGS,
  MANDATORY_FLAGS,
  parseChallenge,
  parseChallengeAck,
  parseStatus,
  performHandshake,
  type HandshakeOptions,
} from '@/server/erlang/handshake';
import {
  acceptHandshake,
  otp22Challenge,
  OTP25_FLAGS,
  type AcceptOptions,
} from '@/test/support/hostile-peer';

const COOKIE = 'secret_cookie';
const TARGET = 'app@127.0.0.1';
const LOCAL = 'beamscope_abc123@127.0.0.1';

function challengeBody(
  options: { flags?: bigint; name?: string; challenge?: number } = {},
): Buffer {
  const name = Buffer.from(options.name ?? TARGET);
  const body = Buffer.alloc(19 + name.length);
  body[0] = 0x4e;
  body.writeBigUInt64BE(options.flags ?? OTP25_FLAGS, 1);
  body.writeUInt32BE(options.challenge ?? 42, 9);
  body.writeUInt32BE(99, 13);
  body.writeUInt16BE(name.length, 17);
  name.copy(body, 19);
  return body;
}

async function caught(promise: Promise<unknown>): Promise<BeamscopeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(BeamscopeError);
    return error as BeamscopeError;
  }
  throw new Error('expected a rejection');
}

/** Runs our side against the test peer's accepting side over an in-memory stream pair. */
async function handshakeAgainst(
  peer: Partial<AcceptOptions>,
  ours: Partial<HandshakeOptions> = {},
) {
  const [client, server] = duplexPair();
  const accepted = acceptHandshake(server, { name: TARGET, cookie: COOKIE, ...peer });
  try {
    const result = await performHandshake(client, {
      target: TARGET,
      localName: LOCAL,
      cookie: COOKIE,
      headerBytes: 2,
      ...ours,
    });
    return { result, accepted: await accepted };
  } finally {
    client.destroy();
    server.destroy();
  }
}

describe('handshake messages', () => {
  it("encodes 'N' with 64-bit flags, creation and name", () => {
    const body = encodeSendName(LOCAL_FLAGS, 0xdeadbeef, LOCAL);
    expect(body[0]).toBe(0x4e);
    expect(body.readBigUInt64BE(1)).toBe(LOCAL_FLAGS);
    expect(body.readUInt32BE(9)).toBe(0xdeadbeef);
    expect(body.readUInt16BE(13)).toBe(LOCAL.length);
    expect(body.subarray(15).toString()).toBe(LOCAL);
  });

  it('offers what OTP 25 and 26 require, and stays hidden without atom cache or fragments', () => {
    expect(LOCAL_FLAGS & MANDATORY_FLAGS).toBe(MANDATORY_FLAGS);
    expect(LOCAL_FLAGS & DistFlag.UNLINK_ID).toBe(DistFlag.UNLINK_ID);
    expect(LOCAL_FLAGS & DistFlag.V4_NC).toBe(DistFlag.V4_NC);
    expect(LOCAL_FLAGS & DistFlag.PUBLISHED).toBe(0n);
    expect(LOCAL_FLAGS & DistFlag.ATOM_CACHE).toBe(0n);
    expect(LOCAL_FLAGS & DistFlag.DIST_HDR_ATOM_CACHE).toBe(0n);
    expect(LOCAL_FLAGS & DistFlag.FRAGMENTS).toBe(0n);
  });

  it('parses every status and rejects unknown ones', () => {
    for (const status of ['ok', 'ok_simultaneous', 'nok', 'not_allowed', 'alive']) {
      expect(parseStatus(Buffer.from(`s${status}`))).toBe(status);
    }
    expect(() => parseStatus(Buffer.from('sweird'))).toThrow(/unknown handshake status/);
    expect(() => parseStatus(Buffer.from('xok'))).toThrow(/expected a handshake status/);
    expect(() => parseStatus(Buffer.alloc(0))).toThrow(/empty message/);
  });

  it('parses a challenge', () => {
    expect(parseChallenge(challengeBody({ challenge: 3_000_000_000 }))).toEqual({
      flags: OTP25_FLAGS,
      challenge: 3_000_000_000,
      creation: 99,
      name: TARGET,
    });
  });

  it('rejects every truncation of a challenge, and a longer one', () => {
    const body = challengeBody();
    for (let length = 0; length < body.length; length += 1) {
      expect(() => parseChallenge(body.subarray(0, length)), `length ${length}`).toThrow(
        BeamscopeError,
      );
    }
    expect(() => parseChallenge(Buffer.concat([body, Buffer.from('x')]))).toThrow(/name length/);
  });

  it('refuses the pre-OTP 23 challenge', () => {
    expect(() => parseChallenge(Buffer.from('n\0\x05\0\0\0\0\0\0\0\0name'))).toThrow(/OTP 23/);
  });

  it('gives a node on OTP 22 or older its own code, not a protocol error or a name mismatch', async () => {
    const error = await caught(handshakeAgainst({ challengeBody: otp22Challenge(TARGET) }));
    expect(error.code).toBe('otp_too_old');
    expect(error.message).toContain('beamscope needs OTP 23 or newer');
  });

  it('parses an acknowledgement and rejects malformed ones', () => {
    const digest = Buffer.alloc(16, 1);
    expect(parseChallengeAck(Buffer.concat([Buffer.from('a'), digest]))).toEqual(digest);
    expect(() => parseChallengeAck(Buffer.concat([Buffer.from('a'), digest.subarray(1)]))).toThrow(
      BeamscopeError,
    );
    expect(() => parseChallengeAck(Buffer.concat([Buffer.from('b'), digest]))).toThrow(
      BeamscopeError,
    );
  });

  it("computes OTP's digest: md5(cookie ++ integer_to_list(challenge))", () => {
    // erlang:md5(["secret_cookie", integer_to_list(3000000000)]) on OTP 25.
    expect(challengeDigest(3_000_000_000, COOKIE).toString('hex')).toBe(
      '4c698770a82630fa971e087bcbaebbd5',
    );
  });

  it("encodes 'r' with our challenge and the digest", () => {
    const reply = encodeChallengeReply(7, Buffer.alloc(16, 2));
    expect(reply.length).toBe(21);
    expect(reply[0]).toBe(0x72);
    expect(reply.readUInt32BE(1)).toBe(7);
  });
});

describe('performHandshake', () => {
  it('completes against the accepting side and reports the peer', async () => {
    const { result, accepted } = await handshakeAgainst({});
    expect(accepted.outcome).toBe('accepted');
    expect(accepted.peerName).toBe(LOCAL);
    expect(accepted.peerFlags).toBe(LOCAL_FLAGS);
    expect(result.peerName).toBe(TARGET);
    expect(result.peerFlags).toBe(OTP25_FLAGS);
    expect(result.peerCreation).toBe(0x1234);
    expect(result.leftover).toEqual([]);
  });

  it('uses 4-byte lengths for TLS distribution', async () => {
    const { accepted } = await handshakeAgainst({ headerBytes: 4 }, { headerBytes: 4 });
    expect(accepted.outcome).toBe('accepted');
  });

  it('continues on ok_simultaneous, and takes over its own earlier connection on alive', async () => {
    expect((await handshakeAgainst({ status: 'ok_simultaneous' })).accepted.outcome).toBe(
      'accepted',
    );
    const takeOver = await handshakeAgainst(
      { status: 'alive' },
      { takeOverEarlierConnection: true },
    );
    expect(takeOver.accepted.outcome).toBe('accepted');
  });

  it("answers alive with false when the earlier connection is not this process's", async () => {
    const [client, server] = duplexPair();
    const accepted = acceptHandshake(server, { name: TARGET, cookie: COOKIE, status: 'alive' });
    try {
      const error = await caught(
        performHandshake(client, {
          target: TARGET,
          localName: LOCAL,
          cookie: COOKIE,
          headerBytes: 2,
        }),
      );
      expect(error.code).toBe('name_in_use');
      expect(error.message).toContain(`node ${TARGET} already has a connection from ${LOCAL}`);
      // The peer heard 'false' and keeps its connection: nothing was taken over.
      expect((await accepted).outcome).toBe('refused');
    } finally {
      client.destroy();
      server.destroy();
    }
  });

  it('a wrong cookie is auth_failed, exit code 2, naming the node and never the cookie', async () => {
    const error = await caught(handshakeAgainst({ cookie: 'the_other_cookie' }));
    expect(error.code).toBe('auth_failed');
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(`node ${TARGET} rejected the cookie`);
    expect(error.message).not.toContain(COOKIE);
    expect(error.message).not.toContain('the_other_cookie');
  });

  it('nok and not_allowed are protocol errors that say why', async () => {
    expect((await caught(handshakeAgainst({ status: 'nok' }))).message).toContain(
      'already connecting',
    );
    expect((await caught(handshakeAgainst({ status: 'not_allowed' }))).message).toContain(
      'does not allow',
    );
  });

  it('rejects a peer that is not the node we asked for, with its own code', async () => {
    const error = await caught(handshakeAgainst({ name: 'other@127.0.0.1' }));
    // Its own code, so the dashboard can call it a name mismatch without reading the message.
    expect(error.code).toBe('node_name_mismatch');
    expect(error.message).toContain('other@127.0.0.1 answered');
  });

  it('rejects a peer without the capabilities OTP 25 requires', async () => {
    const error = await caught(handshakeAgainst({ flags: OTP25_FLAGS & ~DistFlag.MAP_TAG }));
    expect(error.message).toContain('0x20000');
  });

  it('rejects a malformed challenge', async () => {
    const error = await caught(
      handshakeAgainst({ challengeBody: challengeBody().subarray(0, 12) }),
    );
    expect(error.code).toBe('protocol');
  });

  it('a peer closing before the status is a protocol error hinting at the name', async () => {
    const [client, server] = duplexPair();
    server.once('data', () => server.end());
    const error = await caught(
      performHandshake(client, {
        target: TARGET,
        localName: LOCAL,
        cookie: COOKIE,
        headerBytes: 2,
      }),
    );
    expect(error.code).toBe('protocol');
    expect(error.message).toContain('before answering our name');
    client.destroy();
  });

  it('rejects an oversized handshake message (not a BEAM node)', async () => {
    const [client, server] = duplexPair();
    server.once('data', () => server.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
    const error = await caught(
      performHandshake(client, {
        target: TARGET,
        localName: LOCAL,
        cookie: COOKIE,
        headerBytes: 2,
      }),
    );
    expect(error.code).toBe('protocol');
    client.destroy();
    server.destroy();
  });

  it('rejects a wrong acknowledgement digest as auth_failed', async () => {
    const [client, server] = duplexPair();
    const frame = (body: Buffer) => Buffer.concat([Buffer.from([0, body.length]), body]);
    let step = 0;
    server.on('data', () => {
      step += 1;
      if (step === 1)
        server.write(Buffer.concat([frame(Buffer.from('sok')), frame(challengeBody())]));
      if (step === 2) server.write(frame(Buffer.concat([Buffer.from('a'), Buffer.alloc(16)])));
    });
    const error = await caught(
      performHandshake(client, {
        target: TARGET,
        localName: LOCAL,
        cookie: COOKIE,
        headerBytes: 2,
      }),
    );
    expect(error.code).toBe('auth_failed');
    client.destroy();
    server.destroy();
  });

  it('hands over bytes that arrive with the acknowledgement', async () => {
    const [client, server] = duplexPair();
    const frame = (body: Buffer) => Buffer.concat([Buffer.from([0, body.length]), body]);
    let step = 0;
    server.on('data', (chunk: Buffer) => {
      step += 1;
      if (step === 1)
        server.write(Buffer.concat([frame(Buffer.from('sok')), frame(challengeBody())]));
      if (step === 2) {
        const ourChallenge = chunk.readUInt32BE(3);
        const ack = frame(Buffer.concat([Buffer.from('a'), challengeDigest(ourChallenge, COOKIE)]));
        server.write(Buffer.concat([ack, Buffer.from([0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3])]));
      }
    });
    const result = await performHandshake(client, {
      target: TARGET,
      localName: LOCAL,
      cookie: COOKIE,
      headerBytes: 2,
    });
    expect(Buffer.concat(result.leftover)).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
    client.destroy();
    server.destroy();
  });
});
