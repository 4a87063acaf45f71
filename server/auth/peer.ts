import 'server-only';

import { createHmac, timingSafeEqual } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** The request header carrying the TCP peer address from the socket to the proxy and routes. */
export const PEER_HEADER = 'x-beamscope-peer';
/** Its proof: an HMAC of the address under this process's secret, so a client cannot forge it. */
export const PEER_PROOF_HEADER = 'x-beamscope-peer-proof';

/*
 * Why a diagnostics channel: Next 16's proxy (and every route handler) sees a `Request`, never
 * the socket — `NextRequest.ip` is gone since Next 15, and the `x-forwarded-for` Next fills in
 * keeps whatever the client sent. The alternatives were a custom server entry wrapping the
 * standalone `server.js` (every launcher — `npm start`, the demo, the tests, the image — would
 * have to change, and Next's generated entry carries the build's config inline) or trusting a
 * header. Node's HTTP server publishes `http.server.request.start` with the request and its
 * socket synchronously, before it emits 'request' to Next's handler, so a subscriber installed
 * at startup (`instrumentation.ts` → `server/startup.ts`) can overwrite the two headers on every
 * request with the socket's own address. The proof makes the scheme fail closed: a request
 * that arrived before the subscriber existed, or a server started some other way, carries no
 * valid proof, and `verifiedPeer` returns undefined (proxy mode then refuses).
 */

function proof(secret: Buffer, address: string): string {
  return createHmac('sha256', secret).update(`peer\0${address}`).digest('base64url');
}

const INSTALLED = Symbol.for('beamscope.peerHook');

/** Starts stamping every incoming HTTP request of this process with its verified peer address. */
export function installPeerHook(secret: Buffer): void {
  const global = globalThis as { [INSTALLED]?: boolean };
  if (global[INSTALLED]) return;
  global[INSTALLED] = true;
  subscribe('http.server.request.start', (message) => {
    const { request, socket } = message as { request: IncomingMessage; socket: Socket };
    const address = socket.remoteAddress ?? '';
    // Whatever the client sent under these names is dropped first.
    delete request.headers[PEER_HEADER];
    delete request.headers[PEER_PROOF_HEADER];
    if (!address) return;
    request.headers[PEER_HEADER] = address;
    request.headers[PEER_PROOF_HEADER] = proof(secret, address);
  });
}

/** The request's TCP peer address, if the startup hook stamped it; undefined otherwise. */
export function verifiedPeer(headers: Headers, secret: Buffer): string | undefined {
  const address = headers.get(PEER_HEADER);
  const given = headers.get(PEER_PROOF_HEADER);
  if (!address || !given) return undefined;
  const expected = Buffer.from(proof(secret, address));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected)
    ? address
    : undefined;
}
