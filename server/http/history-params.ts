import 'server-only';

// The history API's query parameters, read and checked before anything is asked of the store:
// a moment (ms since the epoch or ISO 8601), an event kind from the closed list, a node name,
// a cursor, a page size. Each reader names the parameter and what it takes when it refuses.

import type { TimelineEventKind } from '@/lib/cluster-state';

import { BeamscopeError } from '../errors';

function badRequest(message: string): BeamscopeError {
  return new BeamscopeError('http', 'bad_request', message);
}

/** Every event kind, by the type's own list: a kind added there and missing here does not compile. */
const EVENT_KINDS: Record<TimelineEventKind, true> = {
  member_joined: true,
  member_left: true,
  pod_ready: true,
  pod_unready: true,
  pod_terminating: true,
  node_up: true,
  node_down: true,
  link_up: true,
  link_down: true,
  link_flap: true,
  partition_detected: true,
  partition_healed: true,
  registry_changed: true,
  registry_rebalanced: true,
  registry_diverged: true,
  registry_converged: true,
  kubernetes_event: true,
  observation_gap: true,
  code_skew_detected: true,
  code_skew_changed: true,
  code_skew_cleared: true,
  down_cause: true,
};

export const TIMELINE_EVENT_KINDS = Object.keys(EVENT_KINDS) as TimelineEventKind[];

/** What a node name may look like: `name@host`, as OTP allows it. */
export const NODE_NAME = /^[A-Za-z0-9_-]{1,255}@[A-Za-z0-9_.:-]{1,255}$/;

/** The earliest and latest moments accepted (years 2000 to 9999): anything else is a typo. */
const EARLIEST = Date.UTC(2000, 0, 1);
const LATEST = Date.UTC(9999, 11, 31);

/**
 * A moment as text: whole milliseconds since the epoch, or an ISO 8601 date-time with its zone
 * (`2026-03-01T03:12:05Z`, `…+01:00`). Null when it is neither.
 */
export function parseMoment(text: string): number | null {
  let at: number;
  if (/^\d{1,15}$/.test(text)) at = Number(text);
  else if (
    /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)$/.test(text) &&
    text.length <= 40
  )
    at = Date.parse(text);
  else return null;
  return Number.isFinite(at) && at >= EARLIEST && at <= LATEST ? at : null;
}

/** One optional moment from a parameter's `values`. */
export function momentParam(values: string[], name: string): number | undefined {
  if (values.length === 0) return undefined;
  const at = values.length === 1 ? parseMoment(values[0]!) : null;
  if (at === null)
    throw badRequest(
      `?${name}= takes one moment: milliseconds since the epoch, or ISO 8601 with a zone (2026-03-01T03:12:05Z)`,
    );
  return at;
}

/** Event kinds, repeated or comma-separated, each from the closed list. */
export function kindsParam(values: string[], name: string): TimelineEventKind[] | undefined {
  if (values.length === 0) return undefined;
  const kinds = values.flatMap((value) => value.split(','));
  for (const kind of kinds) {
    if (!Object.hasOwn(EVENT_KINDS, kind))
      throw badRequest(
        `?${name}= takes event kinds from: ${TIMELINE_EVENT_KINDS.join(', ')} (got "${kind.slice(0, 60)}")`,
      );
  }
  return [...new Set(kinds)] as TimelineEventKind[];
}

/** A node name (`name@host`), decoded from a path segment or a query parameter. */
export function nodeName(raw: string, where: string): string {
  let node = raw;
  try {
    node = decodeURIComponent(raw);
  } catch {
    // Not percent-encoded after all: validated as it is below.
  }
  if (!NODE_NAME.test(node))
    throw badRequest(`${where}: "${node.slice(0, 100)}" is not a node name (expected name@host)`);
  return node;
}

export function optionalNode(values: string[], name: string): string | undefined {
  if (values.length === 0) return undefined;
  if (values.length > 1) throw badRequest(`?${name}= takes one node name`);
  return nodeName(values[0]!, `?${name}=`);
}

/** A cursor from a previous page: opaque to the client, short and plain to the server. */
export function cursorParam(values: string[], name: string): string | undefined {
  if (values.length === 0) return undefined;
  if (values.length !== 1 || !/^[A-Za-z0-9_.:-]{1,200}$/.test(values[0]!))
    throw badRequest(`?${name}= takes the \`next\` of a previous page`);
  return values[0];
}

/** A page size from 1 to `max`. */
export function limitParam(values: string[], name: string, fallback: number, max: number): number {
  if (values.length === 0) return fallback;
  const value = values.length === 1 && /^\d{1,6}$/.test(values[0]!) ? Number(values[0]) : NaN;
  if (!(value >= 1 && value <= max))
    throw badRequest(`?${name}= takes a whole number from 1 to ${max}`);
  return value;
}

export function orderParam(values: string[], name: string): 'newest' | 'oldest' {
  if (values.length === 0) return 'newest';
  if (values.length === 1 && (values[0] === 'newest' || values[0] === 'oldest')) return values[0];
  throw badRequest(`?${name}= takes one of: newest, oldest`);
}

/** `from` and `to` in order. */
export function checkSpan(from: number | undefined, to: number | undefined): void {
  if (from !== undefined && to !== undefined && from > to)
    throw badRequest('?from= must not be after ?to=');
}
