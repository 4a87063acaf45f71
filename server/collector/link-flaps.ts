import 'server-only';

// Links torn down and made again between two readings of a node's links. A peer that drops a node
// and is connected to again a second later (libcluster's Kubernetes strategy and an unready pod)
// is never missing from `nodes()` when a probe looks, so the mesh shows nothing; what does show
// is the connection itself. `dist_ctrl` names each connection's controller, a port for TCP
// distribution (a process for TLS): a new connection gets a new one, never a reused one (checked
// on OTP 25: `#Port<0.10>` → `#Port<0.13>` across `disconnect_node` and `connect_node`). The
// `nodes_info` packet counters start again at 0 with a new connection too, but a young link that
// is made again and busy may count past its old total before the next reading: they stand in
// only where a controller is not known (the `dist_ctrl` call failed).

import type { TimelineEvent } from '@/lib/cluster-state';
import type { EventDetails, TimelineChange } from '@/lib/timeline-summary';

import { Pid, Port } from '../erlang/codec';
import type { LinkReport } from '../erlang/probes';

import { FlapBatch } from './flap-batch';
import { PackedRows, type FieldPacking } from './link-columns';
import { readingPeers, type PeerNames } from './reading-peers';

/** A link found made again between two readings of one of its ends. */
export interface LinkFlap {
  /** The node whose reading showed it, and its peer. */
  node: string;
  peer: string;
  /** The two readings (ms since the epoch): the link dropped and came back between them. */
  from: number;
  to: number;
  /** What showed it: another controller, or counters that went back. */
  evidence: 'controller' | 'counters';
}

// One reading per link is held, at 1,000 nodes a million of them: as three numbers per link in
// packed columns per node (the controller as a number, NaN when not known, and the two packet
// counters, each in the narrowest unsigned array that holds them, see link-columns.ts — 12 bytes
// a link with 32-bit values where three Float64s took 24), beside the peers in the reading's order (16-bit ids shared with the link
// tracker's hold of the same reading, see reading-peers.ts), not as an object per link.
const CONTROLLER = 0;
const IN_PACKETS = 1;
const OUT_PACKETS = 2;
const FIELDS = 3;
const PACKING: readonly FieldPacking[] = ['count', 'count', 'count'];

interface NodeReading {
  at: number;
  /** The node's own creation, as its controllers carry it: another one is another run of it. */
  creation: number | null;
  /** The peers in the reading's order, as ids into one table of names (reading-peers.ts). */
  peers: PeerNames;
  /** {@link FIELDS} numbers per peer, in the order of `peers`. */
  values: PackedRows;
}

/** Pid ids and serials fit in 32 bits; 2^20 serials per id keeps the product below 2^53. */
const SERIAL_SPAN = 2 ** 20;

/**
 * A controller as one number (kept per link, so no string per link): a port by its id, a process
 * by its id and serial, negative so it never equals a port's.
 */
function controllerId(controller: Port | Pid): number {
  if (controller instanceof Port) return Number(controller.id);
  return -(controller.id * SERIAL_SPAN + (controller.serial % SERIAL_SPAN) + 1);
}

/**
 * Compares each node's reading of its links with its last one. Only links present in both
 * readings are compared: a peer missing from one of them went down where `nodes()` shows it too,
 * and the mesh's own `link_down` and `link_up` tell of that. A node whose creation changed is
 * another run of it (a restart, told as `node_down`): its links start afresh, unreported.
 * Holds one reading per link as numbers (see {@link FIELDS}), as {@link LinkTracker} holds its rates.
 */
export class FlapDetector {
  private readonly nodes = new Map<string, NodeReading>();
  /** Where a reading is written before it is packed: reused, grown to the largest reading. */
  private scratch = new Float64Array(0);

  /** Takes in `node`'s links as read at `at`; returns the links made again since its last reading. */
  observe(node: string, report: LinkReport, at: number): LinkFlap[] {
    const controllers = new Map<string, Port | Pid>();
    let creation: number | null = null;
    for (const entry of report.controllers ?? []) {
      controllers.set(entry.node, entry.controller);
      creation ??= entry.controller.creation;
    }
    const last = this.nodes.get(node);
    const restarted =
      last !== undefined &&
      last.creation !== null &&
      creation !== null &&
      last.creation !== creation;
    const compare = last !== undefined && !restarted && at > last.at;
    // Built only when a peer moved in `nodes_info`'s order.
    let lastIndex: Map<string, number> | undefined;
    const lastSlot = (peer: string, slot: number): number | undefined => {
      if (!last) return undefined;
      if (slot < last.peers.length && last.peers.at(slot) === peer) return slot;
      if (!lastIndex) {
        // A name listed twice keeps its last place, as a Map built from pairs did.
        lastIndex = new Map();
        for (let index = 0; index < last.peers.length; index += 1) {
          lastIndex.set(last.peers.at(index), index);
        }
      }
      return lastIndex.get(peer);
    };
    const peers = readingPeers(report.counters);
    if (this.scratch.length < report.counters.length * FIELDS) {
      this.scratch = new Float64Array(report.counters.length * FIELDS);
    }
    const values = this.scratch;
    const flaps: LinkFlap[] = [];
    for (const [slot, counter] of report.counters.entries()) {
      const controller = controllers.get(counter.node);
      const into = slot * FIELDS;
      values[into + CONTROLLER] = controller ? controllerId(controller) : Number.NaN;
      values[into + IN_PACKETS] = counter.inPackets;
      values[into + OUT_PACKETS] = counter.outPackets;
      const before = compare ? lastSlot(counter.node, slot) : undefined;
      if (before === undefined) continue;
      const then = last!.values;
      const thenController = then.get(before, CONTROLLER);
      const known = !Number.isNaN(values[into + CONTROLLER]!) && !Number.isNaN(thenController);
      const evidence = known
        ? values[into + CONTROLLER] !== thenController
          ? 'controller'
          : null
        : counter.inPackets < then.get(before, IN_PACKETS) ||
            counter.outPackets < then.get(before, OUT_PACKETS)
          ? 'counters'
          : null;
      if (evidence) flaps.push({ node, peer: counter.node, from: last!.at, to: at, evidence });
    }
    this.nodes.set(node, {
      at,
      creation: creation ?? last?.creation ?? null,
      peers,
      values: PackedRows.pack(values, peers.length, PACKING),
    });
    return flaps;
  }

  /** Forgets a node (no longer a member). */
  forget(node: string): void {
    this.nodes.delete(node);
  }
}

/** What {@link LinkFlaps} needs from its collector. */
export interface LinkFlapsOptions {
  now: () => number;
  /** How long one round of link readings takes now (every node's links read once). */
  roundMs: () => number;
  /** Publishes the batch's event (the stream decorates it with its causes). */
  release: (changes: TimelineChange[]) => void;
}

/**
 * One collector's flaps, found by a {@link FlapDetector} where the links are followed (see
 * `link-follower.ts`), held and told as one event per change of the mesh ({@link FlapBatch}).
 */
export class LinkFlaps {
  private readonly batch: FlapBatch;

  constructor(options: LinkFlapsOptions) {
    this.batch = new FlapBatch(options);
  }

  /** Takes in the flaps a node's reading showed. */
  hold(flaps: LinkFlap[]): void {
    this.batch.hold(flaps);
  }

  /** Notes an event as the stream tells it: the downs it tells of are not told again as flaps. */
  published(event: TimelineEvent, details: EventDetails | undefined): void {
    this.batch.published(event, details);
  }

  /** Forgets the flaps held, untold. */
  stop(): void {
    this.batch.stop();
  }
}
