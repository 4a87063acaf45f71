/**
 * Storms told as one event. A diff that changes many links, or many members in one way, becomes
 * one event carrying counts and a bounded sample; the full list is kept beside it as details the
 * server holds and serves on demand. What the stream carries per change so stays bounded however
 * large the cluster: a 500 | 500 netsplit is one event, not 250,000.
 */
import type { MemberRef, Sampled, TimelineEventDraft, TimelineEventKind } from './cluster-state';

/**
 * Up to this many changes of one kind in one diff are told one by one (a flapping link, a few
 * pods rolling); more become one summary event. Ten lines is about what the timeline shows at
 * once: past that, a screenful of the same line hides every other event, and to an operator it
 * is one change of the mesh, not ten.
 */
export const SUMMARY_THRESHOLD = 10;
/** How many items a summary event names. */
export const SAMPLE_SIZE = 5;
/** How many sides a partition event carries, each with its size and first nodes. */
export const SIDE_SAMPLE = 4;

/** Links as index pairs over a sorted node table: 8 bytes a link instead of two strings. */
export interface LinkList {
  /** The node table, sorted by name. */
  nodes: readonly string[];
  /** Each link as `a * nodes.length + b` with `a < b`, sorted: name order. */
  packed: Float64Array;
}

/** The full lists behind a summary event, kept server-side and served on demand. */
export interface EventDetails {
  sides?: string[][];
  links?: LinkList;
  members?: MemberRef[];
}

/** One timeline event and, when it summarises, the full lists behind it. */
export interface TimelineChange {
  event: TimelineEventDraft;
  details?: EventDetails;
}

/** A link list from packed pairs in any order (the array is sorted in place). */
export function linkList(nodes: readonly string[], packed: Float64Array): LinkList {
  return { nodes, packed: packed.sort() };
}

/** The links `offset` to `offset + limit` of a list, as node pairs. */
export function linksOf(list: LinkList, offset = 0, limit = Infinity): Array<[string, string]> {
  const size = list.nodes.length;
  const end = Math.min(list.packed.length, offset + limit);
  const links: Array<[string, string]> = [];
  for (let index = Math.max(0, offset); index < end; index += 1) {
    const value = list.packed[index]!;
    const a = Math.floor(value / size);
    links.push([list.nodes[a]!, list.nodes[value - a * size]!]);
  }
  return links;
}

/** How much a set of details holds (links, members and side nodes), to bound what is kept. */
export function detailsWeight(details: EventDetails): number {
  return (
    (details.links?.packed.length ?? 0) +
    (details.members?.length ?? 0) +
    (details.sides?.reduce((sum, side) => sum + side.length, 0) ?? 0)
  );
}

/** How many there are, and the first `size`. */
export function sampled<T>(items: readonly T[], size = SAMPLE_SIZE): Sampled<T> {
  return { count: items.length, sample: items.slice(0, size) };
}

/** `250,000`: the same on every server, whatever its locale. */
export function countText(value: number): string {
  return value.toLocaleString('en-US');
}

function plural(value: number, one: string, many: string): string {
  return `${countText(value)} ${value === 1 ? one : many}`;
}

function more(shown: number, total: number, what = 'more'): string {
  return total > shown ? `, … (+${countText(total - shown)} ${what})` : '';
}

/**
 * The events for links that went down (or came up) outside any partition change: one per link
 * up to {@link SUMMARY_THRESHOLD}, else one event with the count and the first few.
 */
export function linkChanges(kind: 'link_down' | 'link_up', list: LinkList): TimelineChange[] {
  const count = list.packed.length;
  const severity = kind === 'link_down' ? 'warning' : 'info';
  const state = kind === 'link_down' ? 'down' : 'up';
  if (count <= SUMMARY_THRESHOLD) {
    return linksOf(list).map((link) => ({
      event: { kind, severity, message: `link ${link[0]} — ${link[1]} is ${state}`, link },
    }));
  }
  const sample = linksOf(list, 0, SAMPLE_SIZE);
  const named = sample.map(([a, b]) => `${a} — ${b}`).join(', ');
  return [
    {
      event: {
        kind,
        severity,
        message: `${countText(count)} links ${state}: ${named}${more(sample.length, count)}`,
        links: { count, sample },
        expandable: true,
      },
      details: { links: list },
    },
  ];
}

function describeSides(sides: readonly string[][]): string {
  const total = sides.reduce((sum, side) => sum + side.length, 0);
  // A few nodes read best by name; past that, sizes say what happened and stay short.
  if (total <= SUMMARY_THRESHOLD) return sides.map((side) => `[${side.join(', ')}]`).join(' | ');
  const shown = sides.slice(0, SIDE_SAMPLE);
  const sizes = shown.map((side) => countText(side.length)).join(' | ');
  return `${sizes} nodes${more(shown.length, sides.length, 'more sides')}`;
}

/**
 * One event for a split (`partition_detected`, the new sides) or a heal (`partition_healed`, the
 * former sides), with the links that went down between the sides (or came up), however many.
 */
export function partitionChange(
  kind: 'partition_detected' | 'partition_healed',
  sides: string[][],
  links: LinkList,
): TimelineChange {
  const count = links.packed.length;
  const detected = kind === 'partition_detected';
  const linkText =
    count === 0 ? '' : `, ${plural(count, 'link', 'links')} ${detected ? 'down' : 'up'}`;
  const message = detected
    ? `partition detected: ${describeSides(sides)}${linkText}`
    : `partition healed: ${describeSides(sides)} rejoined${linkText}`;
  return {
    event: {
      kind,
      severity: detected ? 'error' : 'info',
      message,
      sides: sides.slice(0, SIDE_SAMPLE).map((side) => sampled(side)),
      sideCount: sides.length,
      links: { count, sample: linksOf(links, 0, SAMPLE_SIZE) },
      expandable: true,
    },
    details: { sides, links },
  };
}

/** How a summary of many member events of one kind reads. */
const MEMBER_SUMMARY: Partial<Record<TimelineEventKind, string>> = {
  member_joined: 'members joined',
  member_left: 'members left',
  pod_ready: 'pods ready',
  pod_unready: 'pods not ready',
  pod_terminating: 'pods terminating',
  node_up: 'nodes up',
  node_down: 'nodes down',
};

function refOf(event: TimelineEventDraft): MemberRef {
  return {
    key: event.key!,
    ...(event.node ? { node: event.node } : {}),
    ...(event.pod ? { pod: event.pod } : {}),
  };
}

/**
 * Member events of one diff, with each kind that happened to more than
 * {@link SUMMARY_THRESHOLD} members folded into one event where its first one stood: a scale
 * from 0 to 120 is "120 members joined", not 120 lines.
 */
export function foldMemberEvents(events: readonly TimelineEventDraft[]): TimelineChange[] {
  const byKind = new Map<TimelineEventKind, TimelineEventDraft[]>();
  for (const event of events) {
    const same = byKind.get(event.kind);
    if (same) same.push(event);
    else byKind.set(event.kind, [event]);
  }
  const changes: TimelineChange[] = [];
  const folded = new Set<TimelineEventKind>();
  for (const event of events) {
    const same = byKind.get(event.kind)!;
    const label = MEMBER_SUMMARY[event.kind];
    if (same.length <= SUMMARY_THRESHOLD || !label || event.key === undefined) {
      changes.push({ event });
      continue;
    }
    if (folded.has(event.kind)) continue;
    folded.add(event.kind);
    const members = same.map(refOf);
    const sample = members.slice(0, SAMPLE_SIZE);
    const named = sample.map((member) => member.pod ?? member.node ?? member.key).join(', ');
    changes.push({
      event: {
        kind: event.kind,
        severity: event.severity,
        message: `${countText(members.length)} ${label}: ${named}${more(sample.length, members.length)}`,
        members: { count: members.length, sample },
        expandable: true,
      },
      details: { members },
    });
  }
  return changes;
}
