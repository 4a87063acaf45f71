import 'server-only';

import { connect, type Socket } from 'node:net';

import { erlangError } from './errors';

/** EPMD's well-known port. */
export const EPMD_PORT = 4369;

const PORT_PLEASE2_REQ = 122;
const PORT2_RESP = 119;

/** What EPMD knows about a registered node (PORT2_RESP). */
export interface EpmdNodeInfo {
  port: number;
  /** 77 ('M') for a normal node, 72 ('H') for a hidden one. */
  nodeType: number;
  /** 0 = TCP/IPv4. */
  protocol: number;
  highestVersion: number;
  lowestVersion: number;
  name: string;
}

/** `[len:16][122][name]`: ask for the port of the node whose part before `@` is `alive`. */
export function encodePortPlease2(alive: string): Buffer {
  const name = Buffer.from(alive, 'utf8');
  const out = Buffer.alloc(3 + name.length);
  out.writeUInt16BE(1 + name.length, 0);
  out[2] = PORT_PLEASE2_REQ;
  name.copy(out, 3);
  return out;
}

/** The outcome of parsing EPMD's reply: found, not registered, or more bytes needed. */
export type Port2Reply =
  | { kind: 'found'; info: EpmdNodeInfo }
  | { kind: 'not_registered'; result: number }
  | { kind: 'incomplete' };

/**
 * Parses `[119][result][port:16][type][proto][high:16][low:16][nlen:16][name][elen:16][extra]`
 * (or just `[119][result]` when result ≠ 0). Throws `protocol` for anything else.
 */
export function parsePort2Reply(bytes: Buffer): Port2Reply {
  if (bytes.length < 2) return { kind: 'incomplete' };
  if (bytes[0] !== PORT2_RESP) {
    throw erlangError(
      'protocol',
      `EPMD answered with message type ${bytes[0]}, expected ${PORT2_RESP}`,
    );
  }
  const result = bytes[1] ?? 0;
  if (result !== 0) return { kind: 'not_registered', result };
  if (bytes.length < 12) return { kind: 'incomplete' };
  const nameLength = bytes.readUInt16BE(10);
  if (bytes.length < 12 + nameLength + 2) return { kind: 'incomplete' };
  const extraLength = bytes.readUInt16BE(12 + nameLength);
  if (bytes.length < 14 + nameLength + extraLength) return { kind: 'incomplete' };
  return {
    kind: 'found',
    info: {
      port: bytes.readUInt16BE(2),
      nodeType: bytes[4] ?? 0,
      protocol: bytes[5] ?? 0,
      highestVersion: bytes.readUInt16BE(6),
      lowestVersion: bytes.readUInt16BE(8),
      name: bytes.subarray(12, 12 + nameLength).toString('utf8'),
    },
  };
}

/** The longest reply we accept: 14 fixed bytes, a name and "extra" are tiny in practice. */
const MAX_REPLY_BYTES = 64 * 1024;

/**
 * Asks EPMD on `host` for the distribution port of node `alive@host`.
 * Errors: `epmd_unreachable` (refused, unreachable, closed early), `node_not_registered`
 * (EPMD answered, the node is not there), `timeout`, `protocol` (a malformed reply).
 */
export function lookupNodePort(
  host: string,
  alive: string,
  options: { epmdPort?: number; timeoutMs?: number } = {},
): Promise<EpmdNodeInfo> {
  const epmdPort = options.epmdPort ?? EPMD_PORT;
  const timeoutMs = options.timeoutMs ?? 5000;
  const where = `EPMD at ${host}:${epmdPort}`;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const socket: Socket = connect({ host, port: epmdPort });
    const finish = (error: Error | undefined, info?: EpmdNodeInfo): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else if (info) resolve(info);
    };
    const timer = setTimeout(
      () => finish(erlangError('timeout', `${where} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const tryParse = (final: boolean): void => {
      let reply: Port2Reply;
      try {
        reply = parsePort2Reply(Buffer.concat(chunks, received));
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (reply.kind === 'found') finish(undefined, reply.info);
      else if (reply.kind === 'not_registered') {
        finish(
          erlangError(
            'node_not_registered',
            `node ${alive}@${host} is not registered with ${where} (is it running, under that name?)`,
          ),
        );
      } else if (final) {
        finish(
          erlangError(
            received === 0 ? 'epmd_unreachable' : 'protocol',
            received === 0
              ? `${where} closed the connection without answering`
              : `${where} sent a truncated reply (${received} bytes)`,
          ),
        );
      }
    };
    socket.once('connect', () => socket.write(encodePortPlease2(alive)));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received > MAX_REPLY_BYTES) {
        finish(erlangError('protocol', `${where} sent an oversized reply`));
        return;
      }
      tryParse(false);
    });
    socket.once('end', () => tryParse(true));
    socket.once('close', () => tryParse(true));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      finish(
        erlangError(
          'epmd_unreachable',
          `cannot reach ${where}: ${error.code ?? error.message}` +
            (error.code === 'ECONNREFUSED' ? ' (connection refused: is epmd running there?)' : ''),
          { cause: error },
        ),
      );
    });
  });
}
