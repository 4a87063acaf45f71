import 'server-only';

// What the server's main thread and its distribution thread say to each other (see
// `threaded-manager.ts`). Everything here crosses `postMessage`, which copies plain data only:
// an Atom, Pid or Port arrives as a bare object without its class, and a function not at all. So
// terms cross as their external format (bytes), and a probe's links, the one part of a report
// that holds terms (their controllers) and the bulk of it (a thousand counters at 1,000 nodes),
// are followed on the thread: what crosses is the node's busiest links and its flaps.

import type { ErlangCode } from '@/lib/codes';

import type { DistributionTls } from '../../erlang/connect';
import type { NodeConnectionState } from '../../erlang/manager';
import type { NodeProbeReport, ProbeOptions } from '../../erlang/probes/run';
import type { CopyComparison } from '../divergence';
import type { LinkPlan, LinkReading } from '../link-follower';
import type { AddressMapping } from '../../erlang/address-map';

/** The connection manager's options, as data: the thread builds its manager from these. */
export interface ThreadSetup {
  localName: string;
  /** Never logged, never in a message: it reaches the thread through `workerData` alone. */
  cookie: string;
  port?: number;
  epmdPort?: number;
  tls?: DistributionTls;
  /** The cluster's `distribution.addressMap`: the thread maps a node's host itself. */
  addressMap?: AddressMapping[];
  maxConcurrentConnects?: number;
  backoff?: { initialMs: number; maxMs: number };
  connectTimeoutMs?: number;
  tickIntervalMs?: number;
  maxFrameBytes?: number;
}

/** A probe's options without what cannot cross (the clock seam) or is the thread's (links). */
export type ThreadProbeOptions = Omit<ProbeOptions, 'now' | 'chooseQueues' | 'links'>;

export type ToThread =
  | { type: 'track'; nodes: string[] }
  | { type: 'drop'; node: string; code: ErlangCode; message: string }
  | {
      type: 'rpc';
      id: number;
      node: string;
      module: string;
      fn: string;
      /** The arguments as one encoded list (`term_to_binary([Arg, ...])`). */
      args: Uint8Array;
      timeoutMs?: number;
    }
  | { type: 'probe'; id: number; node: string; options: ThreadProbeOptions; links: LinkPlan }
  | { type: 'compare'; id: number; registry: string; nodes: string[]; timeoutMs: number }
  | { type: 'close' };

export type FromThread =
  | { type: 'state'; node: string; state: NodeConnectionState }
  /** An rpc's reply as `term_to_binary` gives it (131 first). */
  | { type: 'reply'; id: number; bytes: Uint8Array }
  /** A probe's report with its links followed there (see `LinkFollower`, `slimLinks`). */
  | { type: 'report'; id: number; report: NodeProbeReport; links: LinkReading }
  | { type: 'compared'; id: number; result: CopyComparison | null }
  | { type: 'failed'; id: number; error: ThreadError }
  | { type: 'closed' };

/** A failed call, as the main thread rebuilds it. */
export interface ThreadError {
  /** `erlang` for the distribution's own errors; anything else is told as `probe_failed`. */
  surface: string;
  code: string;
  message: string;
  /** For `badrpc`: the reason term, encoded. */
  reason?: Uint8Array;
}
