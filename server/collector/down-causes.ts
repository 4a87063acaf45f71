import 'server-only';

// Why a node went down, on the server: the evidence per member (its pod as last listed, also
// after it left; its recent Kubernetes Events; beamscope's connection to it), the cause put on
// each `node_down`, `link_down`, departing member and summary as it is published, and the
// amendment published when better evidence arrives within AMEND_WINDOW_MS — a pod's status
// update usually lands a little after the connection closed.

import type { ClusterState, TimelineEvent, TimelineEventDraft } from '@/lib/cluster-state';
import {
  AMEND_WINDOW_MS,
  amendmentMessage,
  EVIDENCE_WINDOW_MS,
  linkCause,
  nodeCause,
  outranks,
  sameTally,
  tallyCauses,
  type DownCause,
  type NodeEvidence,
  type PodEventEvidence,
} from '@/lib/down-cause';
import type { KubernetesEvent, KubernetesMember } from '@/lib/members';
import { linksOf, type EventDetails, type TimelineChange } from '@/lib/timeline-summary';

/** Pod Events that tell why a node went down. */
const EVIDENCE_REASONS = new Set(['Killing', 'Unhealthy', 'BackOff', 'Evicted']);
/** Per pod, the last few such Events are enough. */
const EVENTS_PER_POD = 8;
/** Events whose cause may still change, at most; the oldest give way. */
const MAX_PENDING = 200;
/** An event is amended at most this often: the wire stays bounded whatever the evidence does. */
const MAX_AMENDMENTS = 3;
/** Links of a summary whose causes are counted; past it the count stands for the first ones. */
const MAX_LINKS_COUNTED = 10_000;

type Evidence = NodeEvidence & {
  key: string;
  node: string | null;
  /**
   * The pod this member had before, when another pod took its place under the same key (a
   * replacement gets the freed address, and so the same node name): gone since the swap.
   */
  previous?: Evidence;
};

interface Pending {
  event: TimelineEvent;
  details: EventDetails | undefined;
  amended: number;
}

/** The kinds that tell of something going down, and so carry a cause. */
const DOWN_KINDS = new Set<TimelineEventDraft['kind']>([
  'node_down',
  'link_down',
  'link_flap',
  'member_left',
  'partition_detected',
]);

/** The kinds whose cause is their links' (a link that went down, or dropped and came back). */
const LINK_KINDS = new Set<TimelineEventDraft['kind']>(['link_down', 'link_flap']);

/** What a cause or a tally adds to an event. */
type CausePatch = Pick<TimelineEventDraft, 'cause' | 'causes'>;

/**
 * One cluster's evidence and the events that may still be amended. `amend` publishes an
 * amendment (the event stream numbers it and updates the event it amends).
 */
export class DownCauses {
  private readonly byKey = new Map<string, Evidence>();
  private readonly keyOfNode = new Map<string, string>();
  private readonly podEvents = new Map<string, PodEventEvidence[]>();
  private readonly pending = new Map<number, Pending>();
  /** Whether any evidence changed since the pending events were last looked at. */
  private changed = false;

  constructor(
    private readonly now: () => number,
    private readonly amend: (draft: TimelineEventDraft & { amends: number }) => void,
  ) {}

  /** Takes in the members as they are now; a member no longer listed is remembered as gone. */
  observe(state: ClusterState): void {
    const now = this.now();
    const present = new Set<string>();
    for (const member of state.members) {
      present.add(member.key);
      const known = this.byKey.get(member.key);
      const kubernetes = member.kubernetes ?? known?.kubernetes ?? null;
      // A poll changes numbers, not evidence: only a pod or a connection that moved is news.
      if (
        !known ||
        (member.kubernetes !== null && member.kubernetes !== known.kubernetes) ||
        (member.beam !== null && member.beam.connection !== known.connection)
      )
        this.changed = true;
      const replaced =
        known?.kubernetes && member.kubernetes && !samePod(known.kubernetes, member.kubernetes);
      const previous = replaced
        ? {
            ...known,
            goneAt: known.goneAt ?? now,
            wasTerminating: known.kubernetes!.terminating || known.wasTerminating,
            previous: undefined,
          }
        : known?.previous;
      this.byKey.set(member.key, {
        key: member.key,
        node: member.node,
        kubernetes,
        // Listed again (or never by Kubernetes): not gone.
        goneAt: member.kubernetes || !known?.kubernetes ? null : (known.goneAt ?? now),
        wasTerminating: member.kubernetes?.terminating ?? known?.wasTerminating ?? false,
        podEvents: [],
        connection: member.beam?.connection ?? known?.connection ?? null,
        upSince:
          member.beam?.connection.status === 'connected'
            ? member.beam.connection.since
            : (known?.upSince ?? null),
        ...(previous && previous.goneAt! >= now - EVIDENCE_WINDOW_MS ? { previous } : {}),
      });
      if (member.node) this.keyOfNode.set(member.node, member.key);
    }
    for (const [pod, events] of this.podEvents) {
      if (events.at(-1)!.at < now - EVIDENCE_WINDOW_MS) this.podEvents.delete(pod);
    }
    for (const [key, known] of this.byKey) {
      if (present.has(key)) continue;
      if (known.goneAt === null) {
        this.byKey.set(key, { ...known, goneAt: now });
        this.changed = true;
      } else if (known.goneAt < now - EVIDENCE_WINDOW_MS) this.forget(key, known);
    }
  }

  /** Takes in a Kubernetes Event about a pod. */
  observeEvent(event: KubernetesEvent): void {
    if (event.involvedObject.kind !== 'Pod' || !EVIDENCE_REASONS.has(event.reason)) return;
    const now = this.now();
    const list = (this.podEvents.get(event.involvedObject.name) ?? []).filter(
      (seen) => seen.at >= now - EVIDENCE_WINDOW_MS,
    );
    list.push({ reason: event.reason, message: event.message, at: now });
    this.changed = true;
    this.podEvents.set(event.involvedObject.name, list.slice(-EVENTS_PER_POD));
  }

  /** The event with the best cause known now (events that tell of nothing going down as they are). */
  decorate(change: TimelineChange): TimelineChange {
    const { event, details } = change;
    if (!DOWN_KINDS.has(event.kind)) return change;
    const patch = this.causeOf(event, details, this.now());
    return patch ? { event: { ...event, ...patch }, ...(details ? { details } : {}) } : change;
  }

  /** Notes a published event whose cause may still improve within the window. */
  published(event: TimelineEvent, details: EventDetails | undefined): void {
    if (!DOWN_KINDS.has(event.kind) || event.cause?.code === 'oom_killed') return;
    if (event.kind === 'member_left' && !event.cause) return;
    this.pending.set(event.seq, { event, details, amended: 0 });
    if (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
  }

  /** Looks at the pending events again with the evidence now held; amends those it explains better. */
  reconsider(): void {
    if (!this.changed || this.pending.size === 0) return;
    this.changed = false;
    const now = this.now();
    for (const [seq, pending] of this.pending) {
      const { event } = pending;
      if (now - event.at > AMEND_WINDOW_MS || pending.amended >= MAX_AMENDMENTS) {
        this.pending.delete(seq);
        continue;
      }
      const patch = this.causeOf(event, pending.details, event.at);
      if (!patch || !this.improves(event, patch)) continue;
      // What beamscope saw when it was told stays the evidence: its connection has moved on since.
      if (patch.cause && event.cause?.side === 'beam' && !patch.causes)
        patch.cause = { ...patch.cause, evidence: [`beamscope: ${event.cause.detail}`] };
      pending.event = { ...event, ...patch };
      pending.amended += 1;
      this.amend({
        kind: 'down_cause',
        severity: event.severity,
        message: amendmentMessage(subjectOf(event), patch.cause, patch.causes),
        amends: seq,
        ...patch,
        ...(event.key !== undefined ? { key: event.key } : {}),
        ...(event.node !== undefined ? { node: event.node } : {}),
        ...(event.pod !== undefined ? { pod: event.pod } : {}),
        ...(event.link ? { link: event.link } : {}),
      });
    }
  }

  /** Whether `patch` says more than what `event` carries: only new evidence amends. */
  private improves(event: TimelineEvent, patch: CausePatch): boolean {
    if (patch.causes)
      return !sameTally(event.causes, patch.causes) && outranks(patch.cause ?? null, event.cause);
    // The connection's own reason is final when the event is told; Kubernetes' may come later.
    return (
      outranks(patch.cause ?? null, event.cause) &&
      (patch.cause!.side === 'kubernetes' || !event.cause)
    );
  }

  private causeOf(
    event: TimelineEventDraft,
    details: EventDetails | undefined,
    at: number,
  ): CausePatch | null {
    if (event.link && LINK_KINDS.has(event.kind)) {
      return {
        cause: linkCause([this.ofNode(event.link[0]), this.ofNode(event.link[1])], event.link, at),
      };
    }
    if (event.key !== undefined) {
      const evidence = this.withEvents(podOf(this.byKey.get(event.key), event.pod));
      if (!evidence) return null;
      // A member that left while its node was up: the pod's fate is the cause, if it shows one.
      if (event.kind === 'member_left' && evidence.connection?.status !== 'connected') return null;
      const cause = nodeCause(evidence, at);
      return cause ? { cause } : null;
    }
    const causes = this.summaryCauses(event, details, at);
    if (!causes) return null;
    const tally = tallyCauses(causes);
    const top = tally[0] ? causes.find((cause) => cause?.code === tally[0]!.code) : undefined;
    return { causes: tally, ...(top ? { cause: top } : {}) };
  }

  /** The causes behind a summary or a partition: per member, per link or per side's node. */
  private summaryCauses(
    event: TimelineEventDraft,
    details: EventDetails | undefined,
    at: number,
  ): Array<DownCause | null> | null {
    if (details?.members) {
      return details.members.map((member) => {
        const evidence = this.withEvents(this.byKey.get(member.key));
        return evidence ? nodeCause(evidence, at) : null;
      });
    }
    if (LINK_KINDS.has(event.kind) && details?.links) {
      return linksOf(details.links, 0, MAX_LINKS_COUNTED).map((link) =>
        linkCause([this.ofNode(link[0]), this.ofNode(link[1])], link, at),
      );
    }
    if (event.kind === 'partition_detected' && details?.sides) {
      const nodes = details.sides.flat();
      const causes = nodes.map((node) => {
        const evidence = this.ofNode(node);
        return evidence ? nodeCause(evidence, at) : null;
      });
      if (causes.some((cause) => cause !== null)) return causes;
      // Every node healthy and answering: the network split them.
      const sample = details.sides.map((side) => side[0]!);
      return [linkCause([null, null], [sample[0]!, sample[1] ?? sample[0]!], at)];
    }
    return null;
  }

  private ofNode(node: string): Evidence | null {
    const key = this.keyOfNode.get(node);
    return this.withEvents(key !== undefined ? this.byKey.get(key) : undefined);
  }

  private withEvents(evidence: Evidence | undefined): Evidence | null {
    if (!evidence) return null;
    const pod = evidence.kubernetes?.podName;
    return { ...evidence, podEvents: (pod ? this.podEvents.get(pod) : undefined) ?? [] };
  }

  private forget(key: string, known: Evidence): void {
    this.byKey.delete(key);
    if (known.node && this.keyOfNode.get(known.node) === key) this.keyOfNode.delete(known.node);
    const pod = known.kubernetes?.podName;
    if (pod) this.podEvents.delete(pod);
  }
}

function samePod(a: KubernetesMember, b: KubernetesMember): boolean {
  return a.podUid !== null && b.podUid !== null ? a.podUid === b.podUid : a.podName === b.podName;
}

/**
 * The evidence of the pod an event names: the member's pod, or the one it replaced. A node
 * beamscope has not been connected to since its pod was replaced (the replacement was listed
 * before the old node's connection dropped) went down with the old pod.
 */
function podOf(evidence: Evidence | undefined, pod: string | undefined) {
  const previous = evidence?.previous;
  if (!evidence || !previous) return evidence;
  if (pod !== undefined && previous.kubernetes?.podName === pod) return previous;
  const upBeforeSwap =
    previous.goneAt !== null && (evidence.upSince ?? -Infinity) < previous.goneAt;
  return upBeforeSwap ? previous : evidence;
}

/** What an amendment names: the node, the link, or the summary's first line. */
function subjectOf(event: TimelineEvent): string {
  if (event.kind === 'link_flap') {
    if (event.link) return `link ${event.link[0]} — ${event.link[1]} dropped`;
    return event.node ? `${event.node} reconnected` : `“${event.message}”`;
  }
  if (event.link) return `link ${event.link[0]} — ${event.link[1]} went down`;
  if (event.node) return `${event.node} went down`;
  if (event.pod) return `pod ${event.pod} left`;
  return event.kind === 'partition_detected' ? 'the partition' : `“${event.message}”`;
}
