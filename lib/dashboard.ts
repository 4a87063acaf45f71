/**
 * Pure helpers of the dashboard's data flow and its summaries: applying stream messages to the
 * snapshot SWR holds, bounding the timeline, the reconnect back-off, the top bar's numbers and
 * the strip chart's samples. No I/O, no clock of their own.
 */
import { backoffDelay } from './backoff';
import type {
  ClusterDeltaMessage,
  ClusterSnapshot,
  ClusterStreamSnapshot,
  ClusterTimelineMessage,
} from './api';
import type { ClusterState } from './cluster-state';
import { applyCauseAmendment } from './down-cause';
import { memberHosted } from './graph-model';
import {
  applyWireDelta,
  expandState,
  type WireClusterDelta,
  type WireClusterState,
} from './peer-wire';

/** A `snapshot` event as it arrives: its peer lists whole, or compact (`?peers=compact`). */
export type WireStreamSnapshot = Omit<ClusterStreamSnapshot, 'state'> & {
  state: WireClusterState;
};

/** A `delta` event as it arrives: its peer lists whole, or compact. */
export type WireDeltaMessage = Omit<ClusterDeltaMessage, 'delta'> & { delta: WireClusterDelta };

/** How many timeline events the browser keeps (the server keeps its own ring). */
export const TIMELINE_LIMIT = 500;

/** Takes a `snapshot` event: a fresh state and timeline, the cluster summary kept. */
export function applySnapshotMessage(
  current: ClusterSnapshot | undefined,
  message: WireStreamSnapshot,
  now: number,
): ClusterSnapshot | undefined {
  if (!current) return undefined;
  return {
    ...current,
    epoch: message.epoch,
    seq: message.seq,
    state: expandState(message.state),
    timeline: message.timeline.slice(-TIMELINE_LIMIT),
    at: now,
  };
}

/**
 * Applies a `delta` event. One the snapshot already includes (its seq is not newer) is skipped
 * and the same object returned, so nothing re-renders.
 */
export function applyDeltaMessage(
  current: ClusterSnapshot | undefined,
  message: WireDeltaMessage,
): ClusterSnapshot | undefined {
  if (!current || message.seq <= current.seq) return current;
  return { ...current, seq: message.seq, state: applyWireDelta(current.state, message.delta) };
}

/** Appends a `timeline` event (once: a replayed one is skipped), keeping the last `limit`. */
export function appendTimelineMessage(
  current: ClusterSnapshot | undefined,
  event: ClusterTimelineMessage,
  limit = TIMELINE_LIMIT,
): ClusterSnapshot | undefined {
  if (!current || event.seq <= current.seq) return current;
  // A cause found after its event amends that event rather than adding a line.
  const timeline =
    event.kind === 'down_cause'
      ? applyCauseAmendment(current.timeline, event)
      : [...current.timeline, event];
  return {
    ...current,
    seq: event.seq,
    timeline: timeline.length > limit ? timeline.slice(-limit) : timeline,
  };
}

/** The stream's reconnect delay: 1 s, 2 s, 4 s … 30 s, plus up to 20 % jitter from `random`. */
export function reconnectDelay(attempt: number, random = 0): number {
  return backoffDelay(attempt, { initialMs: 1000, maxMs: 30_000, jitter: 'plus20' }, random);
}

/** The state of the live link, as the top bar names it. */
export type LinkState =
  | { status: 'connecting' }
  | { status: 'live'; since: number }
  | { status: 'reconnecting'; since: number; attempt: number; reason: string }
  | { status: 'stale'; since: number; attempt: number; reason: string };

/** After this many failed attempts in a row, the data on screen is called stale. */
export const STALE_AFTER_ATTEMPTS = 3;

/** The link state after a failure at `now` (keeps the time the link was first lost). */
export function linkFailed(previous: LinkState, reason: string, now: number): LinkState {
  const lostSince =
    previous.status === 'reconnecting' || previous.status === 'stale' ? previous.since : now;
  const attempt =
    previous.status === 'reconnecting' || previous.status === 'stale' ? previous.attempt + 1 : 0;
  return {
    status: attempt >= STALE_AFTER_ATTEMPTS ? 'stale' : 'reconnecting',
    since: lostSince,
    attempt,
    reason,
  };
}

/** One registry's total across the cluster, for the top bar: each entry counted once. */
export interface RegistryTotal {
  registry: string;
  names: number;
}

/** The top bar's numbers. */
export interface ClusterTotals {
  podsReady: number;
  pods: number;
  nodesClustered: number;
  nodes: number;
  partitions: number;
  registries: RegistryTotal[];
  otpReleases: Array<{ otpRelease: string; nodes: number }>;
  /** What the connected nodes host, summed: every registered name once, where it lives. */
  hostedNames: number;
}

/**
 * The top bar's summary: pods ready of listed, nodes in the main component of the nodes known,
 * partitions, names per registry (the summaries' totals: a replicated registry's copy counts
 * once, a node-local one is summed) and the OTP releases running.
 */
export function clusterTotals(state: ClusterState): ClusterTotals {
  const pods = state.members.filter((member) => member.kubernetes !== null);
  const nodes = state.members.filter((member) => member.node !== null);
  const main = state.mainPartition === null ? [] : (state.partitions[state.mainPartition] ?? []);
  const otp = new Map<string, number>();
  let names = 0;
  for (const member of state.members) {
    const side = member.beam;
    if (!side || side.connection.status !== 'connected') continue;
    // Hosted, never a copy's size: summing copies would count each name once per node.
    names += memberHosted(member) ?? 0;
    if (side.otpRelease) otp.set(side.otpRelease, (otp.get(side.otpRelease) ?? 0) + 1);
  }
  return {
    podsReady: pods.filter((member) => member.kubernetes!.ready).length,
    pods: pods.length,
    nodesClustered: main.length,
    nodes: nodes.length,
    partitions: state.partitions.length,
    registries: (state.registries ?? []).map((summary) => ({
      registry: summary.registry,
      names: summary.total,
    })),
    otpReleases: [...otp]
      .map(([otpRelease, count]) => ({ otpRelease, nodes: count }))
      .sort((a, b) => (a.otpRelease < b.otpRelease ? -1 : 1)),
    hostedNames: names,
  };
}

/** One point of the strip chart. */
export interface ClusterSample {
  at: number;
  members: number;
  clustered: number;
  /** {@link ClusterTotals.hostedNames}: registered names, each counted once where it lives. */
  hostedNames: number;
}

/** The strip chart's sample of a state. */
export function sampleOf(state: ClusterState, at: number): ClusterSample {
  const totals = clusterTotals(state);
  return {
    at,
    members: state.members.length,
    clustered: totals.nodesClustered,
    hostedNames: totals.hostedNames,
  };
}

/**
 * Appends a sample, dropping those older than `windowMs` before `sample.at`; a sample equal to
 * the last one within a second replaces it (deltas come in bursts).
 */
export function appendSample(
  samples: readonly ClusterSample[],
  sample: ClusterSample,
  windowMs = 3_600_000,
): ClusterSample[] {
  const kept = samples.filter((point) => point.at >= sample.at - windowMs && point.at <= sample.at);
  const last = kept[kept.length - 1];
  if (last && sample.at - last.at < 1000) kept.pop();
  kept.push(sample);
  return kept;
}
