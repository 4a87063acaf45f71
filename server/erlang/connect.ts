import 'server-only';

/**
 * Opening a connection to one node as a hidden node: EPMD (unless the port is fixed), TCP or
 * mutual TLS, the handshake, then a {@link NodeConnection} to talk through.
 */
import { readFile } from 'node:fs/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';

import { describeError } from '../errors';
import { NodeConnection } from './connection';
import { lookupNodePort } from './epmd';
import { erlangError } from './errors';
import { performHandshake } from './handshake';
import { parseNodeName } from './node-name';

/** TLS distribution files (`inet_tls_dist`): we present `certFile`, and verify the node with `caFile`. */
export interface DistributionTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** How to reach and talk to one node. */
export interface ConnectOptions {
  /** Our own node name (`alive@host`). */
  localName: string;
  /** The cluster's cookie; only ever hashed, never logged or put in a message. */
  cookie: string;
  /** The node's distribution port (epmd-less clusters); absent = ask EPMD on the node's host. */
  port?: number;
  /** EPMD's port, default 4369. */
  epmdPort?: number;
  tls?: DistributionTls;
  /** Covers EPMD, TCP (and TLS) connect and the handshake. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * How often we tick when idle, default 15000 (net_ticktime 60 / 4). A peer from which no whole
   * frame arrives for four intervals is declared down, so, as with OTP's own `net_ticktime`, this
   * must match the cluster's setting: a node ticks only every net_ticktime / 4.
   */
  tickIntervalMs?: number;
  /** Largest frame we accept from the peer, default 16 MiB; a larger one closes the connection. */
  maxFrameBytes?: number;
  /** Our creation (incarnation number) for this connection; default random. */
  creation?: number;
  /**
   * Where to dial a node whose name holds `host` (EPMD and the node alike), as a tunnel or
   * port-forward would; default `host` itself. TLS still checks the certificate against `host`.
   */
  dialHost?: (host: string) => string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * The (local name, node) pairs this process has held a connection for, most recent last. When a
 * node answers that it still holds a connection from our name, it is ours to take over only if
 * it is on this list; otherwise another process on this host uses the name (names are stable per
 * host, see `defaultLocalNodeName`). Bounded: a peer forgets a dead connection within its
 * `net_ticktime`, long before ten thousand newer ones are made.
 */
const connectionsThisProcessHeld = new Set<string>();
const HELD_CONNECTIONS_REMEMBERED = 10_000;

function rememberHeldConnection(key: string): void {
  connectionsThisProcessHeld.delete(key);
  connectionsThisProcessHeld.add(key);
  if (connectionsThisProcessHeld.size > HELD_CONNECTIONS_REMEMBERED) {
    const oldest = connectionsThisProcessHeld.values().next().value;
    if (oldest !== undefined) connectionsThisProcessHeld.delete(oldest);
  }
}

/**
 * Connects to `target` (`alive@host`) as a hidden node: EPMD (unless `port` is given), TCP or
 * mutual TLS, the handshake, then a {@link NodeConnection}.
 * Errors: `epmd_unreachable`, `node_not_registered`, `dist_unreachable`, `auth_failed`,
 * `timeout`, `protocol`, `invalid_node_name`, `name_in_use`.
 */
export async function connectNode(
  target: string,
  options: ConnectOptions,
): Promise<NodeConnection> {
  const { alive, host: nameHost } = parseNodeName(target);
  parseNodeName(options.localName);
  const host = options.dialHost?.(nameHost) ?? nameHost;
  const where = host === nameHost ? host : `${nameHost} via ${host}`;
  const heldKey = `${options.localName} ${target}`;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());

  const port =
    options.port ??
    (await lookupNodePort(host, alive, { epmdPort: options.epmdPort, timeoutMs: remaining() }))
      .port;
  const tlsFiles = options.tls ? await readTlsFiles(options.tls) : undefined;

  let stream: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stream?.destroy();
      reject(
        erlangError(
          'timeout',
          `connecting to node ${target} (${where}:${port}) timed out after ${timeoutMs} ms`,
        ),
      );
    }, remaining());
  });
  timedOut.catch(() => undefined);

  try {
    const socket = await Promise.race([
      openStream({ target, host, nameHost, where, port }, tlsFiles, (created) => {
        stream = created;
      }),
      timedOut,
    ]);
    socket.setNoDelay(true);
    const result = await Promise.race([
      performHandshake(socket, {
        target,
        localName: options.localName,
        cookie: options.cookie,
        headerBytes: tlsFiles ? 4 : 2,
        localCreation: options.creation,
        takeOverEarlierConnection: connectionsThisProcessHeld.has(heldKey),
      }),
      timedOut,
    ]);
    rememberHeldConnection(heldKey);
    clearTimeout(timer);
    socket.setKeepAlive(true, 30_000);
    const connection = new NodeConnection(
      socket,
      {
        node: target,
        localName: options.localName,
        localCreation: result.localCreation,
        peerFlags: result.peerFlags,
        peerCreation: result.peerCreation,
      },
      { tickIntervalMs: options.tickIntervalMs, maxFrameBytes: options.maxFrameBytes },
      result.leftover,
    );
    // Bytes that came with the acknowledgement may already have broken the connection.
    if (connection.closeReason) throw connection.closeReason;
    return connection;
  } catch (error) {
    clearTimeout(timer);
    stream?.destroy();
    throw error;
  }
}

interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

async function readTlsFiles(tls: DistributionTls): Promise<TlsMaterial> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (error) {
      throw erlangError(
        'dist_unreachable',
        `cannot read the TLS ${what} file ${file}: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
  };
  const [ca, cert, key] = await Promise.all([
    read(tls.caFile, 'CA'),
    read(tls.certFile, 'certificate'),
    read(tls.keyFile, 'key'),
  ]);
  return { ca, cert, key };
}

/** Opens TCP, or TLS with our client certificate, and resolves once it is ready for the handshake. */
function openStream(
  address: { target: string; host: string; nameHost: string; where: string; port: number },
  tlsFiles: TlsMaterial | undefined,
  created: (socket: Socket) => void,
): Promise<Socket> {
  const { target, host, nameHost, where, port } = address;
  return new Promise((resolve, reject) => {
    const socket: Socket = tlsFiles
      ? tlsConnect({
          host,
          port,
          ...tlsFiles,
          // SNI must be a hostname; for an IP the certificate's IP SANs are checked instead.
          servername: isIP(nameHost) ? undefined : nameHost,
          // The node is who its name says, wherever it was dialled.
          checkServerIdentity: (_dialled, certificate) =>
            checkServerIdentity(nameHost, certificate),
          rejectUnauthorized: true,
        })
      : netConnect({ host, port });
    created(socket);
    const ready = tlsFiles ? 'secureConnect' : 'connect';
    socket.once(ready, () => {
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (error: NodeJS.ErrnoException) => {
      socket.destroy();
      const detail =
        error.code === 'ECONNREFUSED'
          ? 'connection refused'
          : tlsFiles && !error.syscall
            ? // OpenSSL errors carry a short `reason` ("tlsv1 alert unknown ca") beside a long message.
              `TLS handshake failed: ${(error as { reason?: string }).reason ?? error.message}`
            : (error.code ?? error.message);
      reject(
        erlangError(
          'dist_unreachable',
          `cannot reach node ${target} at ${where}:${port}: ${detail}`,
          {
            cause: error,
          },
        ),
      );
    };
    socket.once('error', onError);
  });
}
