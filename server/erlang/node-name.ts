import 'server-only';

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
 * The node names Swarm's tracker always leaves out of its hash ring, whatever the application
 * configures (`@global_blacklist` in `Swarm.Tracker`, Swarm 3.x): remote shells and maintenance or
 * upgrader nodes. Swarm builds its ring from `Node.list(:connected)`, hidden nodes included, when
 * its tracker starts; a hidden node whose name matches none of these would be given a share of
 * the registrations it can never host. Matched against the whole `alive@host`, as Swarm does.
 */
export const SWARM_IGNORED_NODE_PATTERNS: readonly RegExp[] = [
  /^remsh.*$/,
  /^.+_upgrader_.+$/,
  /^.+_maint_.+$/,
];

/** True when Swarm's tracker ignores a node of this name (see {@link SWARM_IGNORED_NODE_PATTERNS}). */
export function swarmIgnoresNode(name: string): boolean {
  return SWARM_IGNORED_NODE_PATTERNS.some((pattern) => pattern.test(name));
}

/** Who is connecting: the dashboard's server process, or one run of the command line. */
export type LocalNodeRole = 'server' | 'cli';

/**
 * beamscope's default name on this host: `beamscope_maint_server@<host>` for the server and
 * `beamscope_maint_cli@<host>` for the command line.
 *
 * - `_maint_` puts it in Swarm's built-in ignore list, so Swarm never places it in its ring.
 * - It is the same on every run: each distinct name becomes a permanent atom on every node it
 *   connects to, so a random name per run (a `probe` from cron) would leak one atom per run.
 * - Server and command line differ, so a `doctor` run beside a running server (in the same pod,
 *   say) does not take over the server's connections.
 */
export function defaultLocalNodeName(role: LocalNodeRole, host: string = localNodeHost()): string {
  return `beamscope_maint_${role}@${host}`;
}

/**
 * The command line's name when the configuration names the server's node (`node.name`): the same
 * host (short-name clusters need it) and `_cli` after the name, so the two never collide.
 */
export function commandLineNodeName(serverName: string): string {
  const { alive, host } = parseNodeName(serverName);
  return `${alive}_cli@${host}`;
}
