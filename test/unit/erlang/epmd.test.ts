import { createServer, type Server, type Socket } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { BeamscopeError } from '@/server/errors';
import { encodePortPlease2, lookupNodePort, parsePort2Reply } from '@/server/erlang/epmd';

function port2Reply(port: number, name: string): Buffer {
  const nameBytes = Buffer.from(name);
  const reply = Buffer.alloc(14 + nameBytes.length);
  reply[0] = 119;
  reply[1] = 0;
  reply.writeUInt16BE(port, 2);
  reply[4] = 77;
  reply[5] = 0;
  reply.writeUInt16BE(6, 6);
  reply.writeUInt16BE(5, 8);
  reply.writeUInt16BE(nameBytes.length, 10);
  nameBytes.copy(reply, 12);
  reply.writeUInt16BE(0, 12 + nameBytes.length);
  return reply;
}

const servers: Server[] = [];
const sockets = new Set<Socket>();

/** A fake EPMD on an ephemeral port: `answer` gets the request and writes whatever it likes. */
async function fakeEpmd(answer: (socket: Socket, request: Buffer) => void): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', (request: Buffer) => answer(socket, request));
    socket.on('close', () => sockets.delete(socket));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(
    servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
  );
});

describe('EPMD messages', () => {
  it('encodes PORT_PLEASE2_REQ with the part before @', () => {
    expect(encodePortPlease2('app')).toEqual(Buffer.from([0, 4, 122, 0x61, 0x70, 0x70]));
  });

  it('parses PORT2_RESP, and reports incomplete replies at every length', () => {
    const reply = port2Reply(9100, 'app');
    expect(parsePort2Reply(reply)).toEqual({
      kind: 'found',
      info: {
        port: 9100,
        nodeType: 77,
        protocol: 0,
        highestVersion: 6,
        lowestVersion: 5,
        name: 'app',
      },
    });
    for (let length = 0; length < reply.length; length += 1) {
      expect(parsePort2Reply(reply.subarray(0, length)).kind).toBe('incomplete');
    }
  });

  it('a non-zero result means not registered', () => {
    expect(parsePort2Reply(Buffer.from([119, 1]))).toEqual({ kind: 'not_registered', result: 1 });
  });

  it('rejects another message type', () => {
    expect(() => parsePort2Reply(Buffer.from([120, 0]))).toThrow(BeamscopeError);
  });
});

describe('lookupNodePort', () => {
  it('asks for the name and returns the port', async () => {
    let request: Buffer | undefined;
    const epmdPort = await fakeEpmd((socket, received) => {
      request = received;
      socket.end(port2Reply(41234, 'app'));
    });
    const info = await lookupNodePort('127.0.0.1', 'app', { epmdPort });
    expect(info.port).toBe(41234);
    expect(request).toEqual(encodePortPlease2('app'));
  });

  it('reads a reply split across writes', async () => {
    const epmdPort = await fakeEpmd((socket) => {
      const reply = port2Reply(5555, 'app');
      socket.write(reply.subarray(0, 3));
      setTimeout(() => socket.end(reply.subarray(3)), 20);
    });
    expect((await lookupNodePort('127.0.0.1', 'app', { epmdPort })).port).toBe(5555);
  });

  it('result ≠ 0 is node_not_registered (exit code 3), naming the node', async () => {
    const epmdPort = await fakeEpmd((socket) => socket.end(Buffer.from([119, 1])));
    const error = await caught(lookupNodePort('127.0.0.1', 'ghost', { epmdPort }));
    expect(error.code).toBe('node_not_registered');
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain('ghost@127.0.0.1');
  });

  it('a refused connection is epmd_unreachable (exit code 3)', async () => {
    const error = await caught(
      lookupNodePort('127.0.0.1', 'app', { epmdPort: await closedPort() }),
    );
    expect(error.code).toBe('epmd_unreachable');
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain('connection refused');
  });

  it('a truncated reply is a protocol error', async () => {
    const epmdPort = await fakeEpmd((socket) => socket.end(port2Reply(1, 'app').subarray(0, 9)));
    expect((await caught(lookupNodePort('127.0.0.1', 'app', { epmdPort }))).code).toBe('protocol');
  });

  it('closing without a reply is epmd_unreachable', async () => {
    const epmdPort = await fakeEpmd((socket) => socket.end());
    expect((await caught(lookupNodePort('127.0.0.1', 'app', { epmdPort }))).code).toBe(
      'epmd_unreachable',
    );
  });

  it('a silent EPMD times out', async () => {
    const epmdPort = await fakeEpmd(() => undefined);
    const error = await caught(lookupNodePort('127.0.0.1', 'app', { epmdPort, timeoutMs: 100 }));
    expect(error.code).toBe('timeout');
  });
});
