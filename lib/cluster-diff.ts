/**
 * Pure diffs between two `ClusterState`s: the small delta the SSE stream carries (and the
 * browser applies), and the timeline events an operator reads (joins, leaves, node up/down,
 * links, partitions, registry counts) — a bounded number per change, whatever the cluster's size.
 */
import { codeSkewEvents } from './code-skew-events';
import { MeshBuilder } from './mesh';
import { meshChanges } from './mesh-events';
import { compareNames } from './names';
import type {
  BeamSide,
  ClusterMember,
  ClusterState,
  ClusterStateDelta,
  MemberPatch,
  TimelineEventDraft,
} from './cluster-state';
import { foldMemberEvents, type TimelineChange } from './timeline-summary';

/** Structural equality of JSON-like values (key order does not matter). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const isArray = Array.isArray(a);
  if (isArray !== Array.isArray(b)) return false;
  // Loops rather than `Object.keys`, `filter` and `every`: this compares every member of a
  // 1,000-node state at each recompute, and their arrays and closures were an eighth of what the
  // collector allocated.
  if (isArray) {
    const left = a as unknown[];
    const right = b as unknown[];
    if (left.length !== right.length) return false;
    for (let index = 0; index < left.length; index++) {
      if (!deepEqual(left[index], right[index])) return false;
    }
    return true;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  // Keys whose value is undefined count as absent, on either side.
  let unmatched = 0;
  for (const key in left) {
    if (!Object.hasOwn(left, key) || left[key] === undefined) continue;
    if (!deepEqual(left[key], right[key])) return false;
    unmatched++;
  }
  for (const key in right) {
    if (Object.hasOwn(right, key) && right[key] !== undefined) unmatched--;
  }
  return unmatched === 0;
}

function patchOf(prev: ClusterMember, next: ClusterMember): MemberPatch | null {
  const patch: MemberPatch = { key: next.key };
  let changed = false;
  if (prev.node !== next.node) {
    patch.node = next.node;
    changed = true;
  }
  if (prev.partition !== next.partition) {
    patch.partition = next.partition;
    changed = true;
  }
  if (!deepEqual(prev.kubernetes, next.kubernetes)) {
    patch.kubernetes = next.kubernetes;
    changed = true;
  }
  if (prev.beam !== next.beam) {
    if (!prev.beam || !next.beam) {
      patch.beam = next.beam;
      changed = true;
    } else {
      const fields: Record<string, unknown> = {};
      let any = false;
      for (const field of Object.keys(next.beam) as Array<keyof BeamSide>) {
        if (!deepEqual(prev.beam[field], next.beam[field])) {
          fields[field] = next.beam[field];
          any = true;
        }
      }
      if (any) {
        patch.beam = fields as Partial<BeamSide>;
        changed = true;
      }
    }
  }
  return changed ? patch : null;
}

/**
 * The delta from `prev` to `next`, or null when nothing but the timestamp changed. Applying it
 * to `prev` with {@link applyClusterDelta} gives a state equal to `next`.
 */
export function diffClusterState(prev: ClusterState, next: ClusterState): ClusterStateDelta | null {
  const before = new Map(prev.members.map((member) => [member.key, member]));
  const after = new Set(next.members.map((member) => member.key));
  const added: ClusterMember[] = [];
  const changed: MemberPatch[] = [];
  for (const member of next.members) {
    const old = before.get(member.key);
    if (!old) added.push(member);
    else if (old !== member) {
      const patch = patchOf(old, member);
      if (patch) changed.push(patch);
    }
  }
  const removed = prev.members.map((member) => member.key).filter((key) => !after.has(key));
  const set: Record<string, unknown> = {};
  let any = added.length > 0 || changed.length > 0 || removed.length > 0;
  for (const key of Object.keys(next) as Array<keyof ClusterState>) {
    if (key === 'members' || key === 'at') continue;
    if (!deepEqual(prev[key], next[key])) {
      set[key] = next[key];
      any = true;
    }
  }
  if (!any) return null;
  set.at = next.at;
  return { added, changed, removed, set: set as ClusterStateDelta['set'] };
}

/** Applies a delta from {@link diffClusterState}; `state` is not modified. */
export function applyClusterDelta(state: ClusterState, delta: ClusterStateDelta): ClusterState {
  const members = new Map(state.members.map((member) => [member.key, member]));
  for (const key of delta.removed) members.delete(key);
  for (const member of delta.added) members.set(member.key, member);
  for (const patch of delta.changed) {
    const member = members.get(patch.key);
    if (!member) continue;
    const { key: _key, beam, ...fields } = patch;
    members.set(patch.key, {
      ...member,
      ...fields,
      ...(beam === undefined
        ? {}
        : {
            beam:
              beam === null ? null : member.beam ? { ...member.beam, ...beam } : (beam as BeamSide),
          }),
    });
  }
  return {
    ...state,
    ...delta.set,
    members: [...members.values()].sort((x, y) => compareNames(x.key, y.key)),
  };
}

function podLabel(member: ClusterMember): string {
  const pod = member.kubernetes;
  if (!pod) return member.node ?? member.key;
  return `pod ${pod.podName ?? pod.ip}${member.node ? ` (${member.node})` : ` (${pod.ip})`}`;
}

function memberEvents(prev: ClusterState, next: ClusterState): TimelineEventDraft[] {
  const events: TimelineEventDraft[] = [];
  const before = new Map(prev.members.map((member) => [member.key, member]));
  const after = new Map(next.members.map((member) => [member.key, member]));
  const ids = (member: ClusterMember) => ({
    key: member.key,
    ...(member.node ? { node: member.node } : {}),
    ...(member.kubernetes?.podName ? { pod: member.kubernetes.podName } : {}),
  });

  for (const member of next.members) {
    const old = before.get(member.key);
    const pod = member.kubernetes;
    if (pod && !old?.kubernetes) {
      events.push({
        kind: 'member_joined',
        severity: 'info',
        message: `${podLabel(member)} joined`,
        ...ids(member),
      });
    } else if (pod && old?.kubernetes) {
      const was = old.kubernetes;
      if (pod.terminating && !was.terminating) {
        events.push({
          kind: 'pod_terminating',
          severity: 'info',
          message: `${podLabel(member)} is terminating`,
          ...ids(member),
        });
      } else if (pod.ready && !was.ready) {
        events.push({
          kind: 'pod_ready',
          severity: 'info',
          message: `${podLabel(member)} is ready`,
          ...ids(member),
        });
      } else if (!pod.ready && was.ready && !pod.terminating) {
        events.push({
          kind: 'pod_unready',
          severity: 'warning',
          message: `${podLabel(member)} is not ready`,
          ...ids(member),
        });
      }
    }
    const wasConnected = old?.beam?.connection.status === 'connected';
    const connection = member.beam?.connection;
    if (connection?.status === 'connected' && !wasConnected) {
      events.push({
        kind: 'node_up',
        severity: 'info',
        message: `node ${member.beam!.node} is up`,
        ...ids(member),
      });
    } else if (wasConnected && connection && connection.status !== 'connected') {
      events.push({
        kind: 'node_down',
        severity: 'error',
        message: `node ${member.beam!.node} is down${connection.reason ? `: ${connection.reason}` : ''}`,
        ...ids(member),
      });
    }
  }
  for (const member of prev.members) {
    if (member.kubernetes && !after.get(member.key)?.kubernetes) {
      events.push({
        kind: 'member_left',
        severity: 'info',
        message: `${podLabel(member)} left`,
        ...ids(member),
      });
    }
  }
  return events;
}

function registryEvents(prev: ClusterState, next: ClusterState): TimelineEventDraft[] {
  const before = new Map(prev.members.map((member) => [member.key, member]));
  const changes: NonNullable<TimelineEventDraft['registries']> = [];
  for (const member of next.members) {
    const oldSide = before.get(member.key)?.beam;
    const side = member.beam;
    // Counts only compare between two probes; a node coming or going is told as such.
    if (!side?.probedAt || !oldSide?.probedAt) continue;
    // Most nodes of a large cluster were not probed since, or kept their counts' very list.
    if (side === oldSide || side.registries === oldSide.registries) continue;
    // A node has a handful of registries: a scan of each list, not two maps and a set per node.
    const countIn = (entries: BeamSide['registries'], registry: string) =>
      entries.find((entry) => entry.registry === registry)?.count ?? null;
    for (const { registry, count } of oldSide.registries) {
      const to = countIn(side.registries, registry);
      if (count !== to) changes.push({ node: side.node, registry, from: count, to });
    }
    for (const { registry, count } of side.registries) {
      if (countIn(oldSide.registries, registry) === null) {
        changes.push({ node: side.node, registry, from: null, to: count });
      }
    }
  }
  // One event per diff however many nodes changed: a rebalance touches every node at once.
  return changes.length === 0 ? [] : [registryChangedEvent(changes)];
}

/** The one timeline event for a set of registry count changes, naming the first three. */
export function registryChangedEvent(
  changes: NonNullable<TimelineEventDraft['registries']>,
): TimelineEventDraft {
  const summary = changes
    .slice(0, 3)
    .map(
      (change) =>
        `${change.registry} on ${change.node}: ${change.from ?? '–'} → ${change.to ?? '–'}`,
    )
    .join('; ');
  return {
    kind: 'registry_changed',
    severity: 'info',
    message: `registry counts changed: ${summary}${changes.length > 3 ? ` (+${changes.length - 3} more)` : ''}`,
    registries: changes,
  };
}

/**
 * The timeline between two states, each event with the full lists behind it when it summarises:
 * member joined/left, pod ready/unready/terminating, node up/down (each kind folded into one
 * event past the summary threshold), link up/down (likewise), at most one partition detected and
 * one healed (with the sides and the links between them, however many), and one coalesced
 * registry-counts event, and at most one code skew event (appeared, changed or cleared). `meshes` is the caller's builder (the collector's, which built both
 * states' meshes already); without one the meshes are built here.
 */
export function diffTimeline(
  prev: ClusterState,
  next: ClusterState,
  meshes: MeshBuilder = new MeshBuilder(),
): TimelineChange[] {
  return [
    ...foldMemberEvents(memberEvents(prev, next)),
    ...meshChanges(prev, next, meshes),
    ...registryEvents(prev, next).map((event) => ({ event })),
    ...codeSkewEvents(prev.codeSkew, next.codeSkew).map((event) => ({ event })),
  ];
}

/**
 * The timeline between two states whose BEAM sides are the very same objects (only pods'
 * fields changed): the member events of {@link diffTimeline}, as it would tell them — the mesh,
 * the registries and the code have nothing to tell.
 */
export function diffMemberTimeline(prev: ClusterState, next: ClusterState): TimelineChange[] {
  return foldMemberEvents(memberEvents(prev, next));
}

/** The events of {@link diffTimeline}, without their details. */
export function diffClusterStates(
  prev: ClusterState,
  next: ClusterState,
  meshes: MeshBuilder = new MeshBuilder(),
): TimelineEventDraft[] {
  return diffTimeline(prev, next, meshes).map((change) => change.event);
}
