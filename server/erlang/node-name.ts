import 'server-only';

import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';

import { erlangError } from './errors';

/** A node name split at its `@`: `alive` is the part EPMD knows, `host` where it runs. */
export interface NodeName {
  alive: string;
  host: string;
  /** The whole `alive@host`. */
  full: string;
}

// What OTP accepts for the part before `@` (net_kernel: letters, digits, `_` and `-`).
const ALIVE_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
// Hostnames, IPv4 addresses, and IPv6 addresses; never whitespace or a second `@`.
const HOST_PATTERN = /^[A-Za-z0-9._:-]{1,255}$/;

/**
 * Parses and validates `alive@host`. Node names reach us from configuration and from Kubernetes, so
 * a malformed one is an operator error with a message saying what is wrong.
 */
export function parseNodeName(text: string): NodeName {
  const at = text.indexOf('@');
  const alive = at < 0 ? '' : text.slice(0, at);
  const host = at < 0 ? '' : text.slice(at + 1);
  if (at < 0 || !ALIVE_PATTERN.test(alive) || !HOST_PATTERN.test(host)) {
    throw erlangError(
      'invalid_node_name',
      `"${text}" is not a valid Erlang node name (expected name@host, the name made of letters, digits, _ and -)`,
    );
  }
  return { alive, host, full: text };
}

/**
 * The host part for this process's own node name: the first non-internal IPv4 address, else the
 * hostname. An address contains dots, so the name is a long name (`-name`), which is how
 * Kubernetes deployments name their nodes (`basename@podIP`); short-name clusters configure
 * `node.name` instead.
 */
export function localNodeHost(
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string {
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  const name = hostname();
  return name.includes('.') ? name : '127.0.0.1';
}

/**
 * `beamscope_<6 hex>@<host>`: one stable name per server process. Every distinct name becomes a
 * permanent atom on each node we connect to, so the name is chosen once, not per connection.
 */
export function defaultLocalNodeName(host: string = localNodeHost()): string {
  return `beamscope_${randomBytes(3).toString('hex')}@${host}`;
}
