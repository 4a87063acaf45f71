import { describe, expect, it } from 'vitest';

import { atom, encodeTerm, Pid, tuple } from '@/server/erlang/codec';
import { BeamscopeError } from '@/server/errors';
import {
  encodeDistMessage,
  encodeFrame,
  FrameReader,
  parseDistMessage,
  TICK_FRAME,
} from '@/server/erlang/frames';

function readAll(reader: FrameReader, chunks: Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let frame = reader.next(); frame !== undefined; frame = reader.next()) frames.push(frame);
  }
  return frames;
}

const bodies = [
  Buffer.from('hello'),
  Buffer.alloc(0), // a tick
  Buffer.from([0x70, 0x83, 0x6a]),
  Buffer.alloc(300, 7), // more than one byte of length
  Buffer.from('x'),
];

describe('FrameReader', () => {
  for (const headerBytes of [2, 4] as const) {
    const stream = Buffer.concat(bodies.map((body) => encodeFrame(body, headerBytes)));

    it(`yields the same frames wherever a ${headerBytes}-byte-header stream is split`, () => {
      for (let split = 0; split <= stream.length; split += 1) {
        const reader = new FrameReader({ headerBytes, maxFrameBytes: 1024 });
        const frames = readAll(reader, [stream.subarray(0, split), stream.subarray(split)]);
        expect(frames, `split at ${split}`).toEqual(bodies);
        expect(reader.bufferedBytes).toBe(0);
      }
    });

    it(`yields the same frames when a ${headerBytes}-byte-header stream arrives byte by byte`, () => {
      const reader = new FrameReader({ headerBytes, maxFrameBytes: 1024 });
      const bytes = [...stream].map((byte) => Buffer.from([byte]));
      expect(readAll(reader, bytes)).toEqual(bodies);
    });
  }

  it('splits at every pair of boundaries (three chunks)', () => {
    const stream = Buffer.concat(bodies.slice(0, 3).map((body) => encodeFrame(body, 4)));
    for (let first = 0; first <= stream.length; first += 1) {
      for (let second = first; second <= stream.length; second += 1) {
        const reader = new FrameReader({ headerBytes: 4, maxFrameBytes: 1024 });
        const chunks = [
          stream.subarray(0, first),
          stream.subarray(first, second),
          stream.subarray(second),
        ];
        expect(readAll(reader, chunks)).toEqual(bodies.slice(0, 3));
      }
    }
  });

  it('waits for the rest of a partial frame', () => {
    const reader = new FrameReader({ headerBytes: 4, maxFrameBytes: 1024 });
    reader.push(encodeFrame(Buffer.from('abcdef'), 4).subarray(0, 7));
    expect(reader.next()).toBeUndefined();
    expect(reader.partial).toBe(true);
    reader.push(Buffer.from('def'));
    expect(reader.next()?.toString()).toBe('abcdef');
    expect(reader.partial).toBe(false);
  });

  it('rejects an oversized length as soon as the header is in, before the body', () => {
    const reader = new FrameReader({ headerBytes: 4, maxFrameBytes: 1024 });
    reader.push(Buffer.from([0xff, 0xff]));
    expect(reader.next()).toBeUndefined();
    reader.push(Buffer.from([0xff, 0xff]));
    let error: unknown;
    try {
      reader.next();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BeamscopeError);
    expect((error as BeamscopeError).code).toBe('frame_too_large');
    expect((error as BeamscopeError).message).toContain('4294967295');
  });

  it('accepts a frame of exactly the limit', () => {
    const reader = new FrameReader({ headerBytes: 4, maxFrameBytes: 10 });
    expect(readAll(reader, [encodeFrame(Buffer.alloc(10), 4)])).toHaveLength(1);
  });

  it('assembles a 16 MiB frame from 1 KiB chunks (a chunk queue, not repeated concatenation)', () => {
    const size = 16 * 1024 * 1024;
    const body = Buffer.alloc(size);
    for (let index = 0; index < size; index += 4096) body[index] = index & 0xff;
    const framed = encodeFrame(body, 4);
    const reader = new FrameReader({ headerBytes: 4, maxFrameBytes: size });
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < framed.length; offset += 1024)
      chunks.push(framed.subarray(offset, offset + 1024));
    const frames = readAll(reader, chunks);
    expect(frames).toHaveLength(1);
    expect(frames[0]?.equals(body)).toBe(true);
  });

  it('drains what follows the frames it handed out', () => {
    const reader = new FrameReader({ headerBytes: 2, maxFrameBytes: 1024 });
    reader.push(Buffer.concat([encodeFrame(Buffer.from('a'), 2), Buffer.from([0, 0, 0, 5, 1])]));
    expect(reader.next()?.toString()).toBe('a');
    expect(Buffer.concat(reader.drain())).toEqual(Buffer.from([0, 0, 0, 5, 1]));
    expect(reader.bufferedBytes).toBe(0);
  });
});

describe('distribution messages', () => {
  const self = new Pid(atom('beamscope_abc123@127.0.0.1'), 1, 0, 7);
  const control = tuple(6, self, atom(''), atom('rex'));
  const payload = tuple(self, tuple(atom('call'), atom('erlang'), atom('node'), [], atom('user')));

  it('round-trips control and payload', () => {
    const framed = encodeDistMessage(control, payload);
    expect(framed.readUInt32BE(0)).toBe(framed.length - 4);
    expect(framed[4]).toBe(112);
    const message = parseDistMessage(framed.subarray(4));
    expect(message.control).toEqual(control);
    expect(message.payload).toEqual(payload);
  });

  it('parses a control-only message', () => {
    const message = parseDistMessage(encodeDistMessage(tuple(4, self, self)).subarray(4));
    expect(message.payload).toBeUndefined();
  });

  it('a tick is four zero bytes', () => {
    expect(TICK_FRAME).toEqual(Buffer.alloc(4));
  });

  it('rejects a message without the pass-through byte', () => {
    expect(() => parseDistMessage(Buffer.from('garbage'))).toThrow(
      /unexpected distribution message type/,
    );
  });

  it('rejects bytes after the payload', () => {
    const body = Buffer.concat([encodeDistMessage(control, payload).subarray(4), encodeTerm(1)]);
    expect(() => parseDistMessage(body)).toThrow(/unexpected bytes/);
  });

  it('rejects every truncation of a message with an error, never a crash or a wrong term', () => {
    const body = encodeDistMessage(control, payload).subarray(4);
    const controlOnlyLength = 1 + encodeTerm(control).length;
    for (let length = 0; length < body.length; length += 1) {
      if (length === controlOnlyLength) continue; // a valid control-only message
      expect(() => parseDistMessage(body.subarray(0, length)), `length ${length}`).toThrow(
        BeamscopeError,
      );
    }
  });
});
