import 'server-only';

// The collector's distribution thread: one cluster's connection manager, its probes and the
// following of each node's links, away from the main thread that serves the pages. It holds the
// sockets, the handshakes and ticks, sends the calls and reads the probes' replies; the main
// thread gets plain reports and encoded replies (see `protocol.ts`). Every call comes from the
// main thread's requests, from the read-only catalogue.

import { parentPort, workerData } from 'node:worker_threads';

import { mapAddress } from '../../erlang/address-map';
import { decodeTerm, encodeTerm } from '../../erlang/codec';
import { BadRpcError, erlangError } from '../../erlang/errors';
import { ConnectionManager } from '../../erlang/manager';
import { runProbes } from '../../erlang/probes/run';
import { BeamscopeError, describeError } from '../../errors';
import { compareCopies, comparisonPace } from '../divergence';
import { LinkFollower, slimLinks } from '../link-follower';
import { type FromThread, type ThreadError, type ThreadSetup, type ToThread } from './protocol';

const port = parentPort;
if (!port) throw new Error('the distribution thread runs as a worker thread only');
const setup = workerData as ThreadSetup;

const manager = new ConnectionManager({
  localName: setup.localName,
  cookie: setup.cookie,
  ...(setup.port !== undefined ? { port: setup.port } : {}),
  ...(setup.epmdPort !== undefined ? { epmdPort: setup.epmdPort } : {}),
  ...(setup.tls ? { tls: setup.tls } : {}),
  ...(setup.addressMap?.length
    ? { dialHost: (host: string) => mapAddress(host, setup.addressMap!) }
    : {}),
  ...(setup.maxConcurrentConnects !== undefined
    ? { maxConcurrentConnects: setup.maxConcurrentConnects }
    : {}),
  ...(setup.backoff ? { backoff: setup.backoff } : {}),
  ...(setup.connectTimeoutMs !== undefined ? { connectTimeoutMs: setup.connectTimeoutMs } : {}),
  ...(setup.tickIntervalMs !== undefined ? { tickIntervalMs: setup.tickIntervalMs } : {}),
  ...(setup.maxFrameBytes !== undefined ? { maxFrameBytes: setup.maxFrameBytes } : {}),
});

const post = (message: FromThread): void => port.postMessage(message);

manager.on('state', (node, state) => post({ type: 'state', node, state }));

/** Each node's links, followed here from probe to probe (see `LinkFollower`). */
const links = new LinkFollower();
let tracked = new Set<string>();

function threadError(error: unknown): ThreadError {
  if (error instanceof BadRpcError) {
    let reason: Uint8Array | undefined;
    try {
      reason = encodeTerm(error.reason);
    } catch {
      // A reason decoded from the wire encodes again; should one not, the code and message stand.
    }
    return { surface: 'erlang', code: error.code, message: error.message, reason };
  }
  if (error instanceof BeamscopeError) {
    return { surface: error.surface, code: error.code, message: error.message };
  }
  return { surface: 'unknown', code: 'probe_failed', message: describeError(error) };
}

async function rpc(message: Extract<ToThread, { type: 'rpc' }>): Promise<void> {
  const { id, node, module, fn, args, timeoutMs } = message;
  try {
    const decodedArgs = decodeTerm(args);
    if (!Array.isArray(decodedArgs)) throw erlangError('badrpc', 'the call arguments are no list');
    // The reply stays encoded here: the main thread decodes it as the caller wants it.
    const reply = await manager.rpc(node, module, fn, decodedArgs, {
      encodedReply: true,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    post({
      type: 'reply',
      id,
      bytes: reply instanceof Uint8Array ? reply : encodeTerm(reply),
    });
  } catch (error) {
    post({ type: 'failed', id, error: threadError(error) });
  }
}

async function probe(message: Extract<ToThread, { type: 'probe' }>): Promise<void> {
  const { id, node, options } = message;
  try {
    const linkOptions = links.plan(node, message.links);
    const report = await runProbes(
      (module, fn, args, callOptions) => manager.rpc(node, module, fn, args, callOptions),
      { ...options, ...linkOptions },
    );
    const reading = links.follow(node, report, linkOptions, Date.now());
    post({ type: 'report', id, report: slimLinks(report), links: reading });
  } catch (error) {
    post({ type: 'failed', id, error: threadError(error) });
  }
}

/** The comparisons' budget: this thread's reads of the copies, as the collector's were. */
const comparePace = comparisonPace();

async function compare(message: Extract<ToThread, { type: 'compare' }>): Promise<void> {
  const { id, registry, nodes, timeoutMs } = message;
  try {
    const result = await compareCopies(
      (node) => (module, fn, args, callOptions) => manager.rpc(node, module, fn, args, callOptions),
      registry,
      nodes,
      { timeoutMs, pace: comparePace },
    );
    post({ type: 'compared', id, result });
  } catch (error) {
    post({ type: 'failed', id, error: threadError(error) });
  }
}

port.on('message', (message: ToThread) => {
  switch (message.type) {
    case 'track': {
      const wanted = new Set(message.nodes);
      for (const node of tracked) if (!wanted.has(node)) links.forget(node);
      tracked = wanted;
      manager.track(message.nodes);
      break;
    }
    case 'drop':
      manager.drop(message.node, erlangError(message.code, message.message));
      break;
    case 'rpc':
      void rpc(message);
      break;
    case 'probe':
      void probe(message);
      break;
    case 'compare':
      void compare(message);
      break;
    case 'close':
      void manager.close().finally(() => {
        post({ type: 'closed' });
        port.close();
      });
      break;
  }
});
