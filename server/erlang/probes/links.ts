import 'server-only';

// A node's distribution links as it sees them: each connection's packet counters, and for a few
// chosen links the bytes queued in the distribution port. Three catalogue calls plus at most
// `MAX_QUEUE_READS` port reads, whatever the cluster's size.

import { Port } from '../codec/terms';
import {
  distBufBusyLimitProbe,
  distControllersProbe,
  nodesInfoProbe,
  portQueueSizeProbe,
  type DistController,
  type LinkCounter,
  type ProbeCall,
} from './catalogue';
import { toProbeError, type ProbeError } from './reply';
import { callProbe, type RpcFunction } from './run';

/** At most this many distribution ports are read per probe (one remote call each). */
export const MAX_QUEUE_READS = 4;

/** What {@link probeLinks} learned about a node's links. */
export interface LinkReport {
  /** The visible connections (hidden ones such as beamscope's own are left out). */
  counters: LinkCounter[];
  /** More connections than the cap: the rest were left out. */
  truncated: boolean;
  /** `dist_buf_busy_limit` in bytes; null when that call failed. */
  busyLimitBytes: number | null;
  /**
   * Bytes queued in the distribution port of each link read this time (TCP distribution; a TLS
   * link's controller is a process, not read). Links not read are absent.
   */
  queues: Array<{ node: string; queueBytes: number }>;
  /**
   * Each connection's controller (`dist_ctrl`; hidden ones included), null when that call failed.
   * A different controller for the same peer at the next reading means the connection was torn
   * down and made again in between: a port (or process) is never reused for a new connection.
   */
  controllers: DistController[] | null;
  /** The failure of a call after the counters, kept beside the rest. */
  error?: ProbeError;
}

/** Which links' queues to read, given their counters: the caller's choice, or the most sent. */
export type QueueChoice = (counters: readonly LinkCounter[]) => readonly string[];

/** Without a chooser (the CLI's one probe): the links that sent the most packets. */
export const busiestByCount: QueueChoice = (counters) =>
  [...counters]
    .sort((a, b) => b.outPackets - a.outPackets)
    .slice(0, MAX_QUEUE_READS)
    .map((link) => link.node);

/**
 * Reads the node's links: `nodes_info` and `dist_ctrl` at once, then the queues of the links
 * `choose` names (at most {@link MAX_QUEUE_READS}). A failure of `nodes_info` throws (the field
 * fails); a failure after it leaves the counters standing, with `error` set.
 */
export async function probeLinks(
  rpc: RpcFunction,
  options: { timeoutMs: number; cap: number; choose?: QueueChoice },
): Promise<LinkReport> {
  const call = <T>(probe: ProbeCall<T>) => callProbe(rpc, probe, options.timeoutMs);
  const controllers = call(distControllersProbe(options.cap)).catch((error: unknown) => error);
  const limit = call(distBufBusyLimitProbe).catch(() => null);
  const info = await call(nodesInfoProbe(options.cap));
  const counters = info.links.filter((link) => !link.hidden);
  const report: LinkReport = {
    counters,
    truncated: info.truncated,
    busyLimitBytes: await limit,
    queues: [],
    controllers: null,
  };
  const controllerList = await controllers;
  if (!Array.isArray(controllerList)) {
    return { ...report, error: toProbeError(controllerList) };
  }
  report.controllers = controllerList;
  const ports = new Map(
    controllerList
      .filter((entry) => entry.controller instanceof Port)
      .map((entry) => [entry.node, entry.controller as Port]),
  );
  const chosen = (options.choose ?? busiestByCount)(counters)
    .filter((node) => ports.has(node))
    .slice(0, MAX_QUEUE_READS);
  try {
    const sizes = await Promise.all(
      chosen.map((node) => call(portQueueSizeProbe(ports.get(node)!))),
    );
    chosen.forEach((node, index) => {
      const queueBytes = sizes[index];
      if (queueBytes !== null && queueBytes !== undefined) report.queues.push({ node, queueBytes });
    });
  } catch (error) {
    return { ...report, error: toProbeError(error) };
  }
  return report;
}
