/**
 * Pure diffs between two `ClusterState`s: the small delta the SSE stream carries (and the
 * browser applies), and the timeline events an operator reads (joins, leaves, node up/down,
 * links, partitions, registry counts).
 */
import { hasLink, linkKey, MeshBuilder } from './mesh';
import { compareNames } from './names';
import type {
  BeamSide,
  ClusterMember,
  ClusterState,
  ClusterStateDelta,
  MemberPatch,
  TimelineEventDraft,
} from './cluster-state';

/** Structural equality of JSON-like values (key order does not matter). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, index) => deepEqual(item, b[index]));
  }
  const aRecord = a as Record<string, unknown>;
  const bRecord = b as Record<string, unknown>;
  const aKeys = Object.keys(aRecord).filter((key) => aRecord[key] !== undefined);
  const bKeys = Object.keys(bRecord).filter((key) => bRecord[key] !== undefined);
  return (
    aKeys.length === bKeys.length && aKeys.every((key) => deepEqual(aRecord[key], bRecord[key]))
  );
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

/** How many members a delta touches (its weight in the replay ring). */
export function deltaSize(delta: ClusterStateDelta): number {
  return delta.added.length + delta.changed.length + delta.removed.length;
}

function podLabel(member: ClusterMember): string {
  const pod = member.kubernetes;
  if (!pod) return member.node ?? member.key;
  return `pod ${pod.podName ?? pod.ip}${member.node ? ` (${member.node})` : ` (${pod.ip})`}`;
}

function describeSides(sides: readonly string[][]): string {
  return sides.map((side) => `[${side.join(', ')}]`).join(' | ');
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

function meshEvents(
  prev: ClusterState,
  next: ClusterState,
  meshes: MeshBuilder,
): TimelineEventDraft[] {
  const events: TimelineEventDraft[] = [];
  const prevMesh = meshes.ofState(prev);
  const nextMesh = meshes.ofState(next);
  const prevNodes = new Set(prevMesh.nodes);
  const nextNodes = new Set(nextMesh.nodes);
  // A link can only change where a node's own list changed: compare just those lists (a full
  // mesh has millions of links, a poll changes few of them).
  const changed = new Map<string, [string, string]>();
  for (const node of new Set([...prevMesh.lists.keys(), ...nextMesh.lists.keys()])) {
    const before = prevMesh.lists.get(node);
    const after = nextMesh.lists.get(node);
    if (before === after) continue;
    // Only links between nodes present on both sides can be news (see below): skip the rest
    // before keying and sorting them, which while a large mesh starts is nearly every link.
    if (!prevNodes.has(node) || !nextNodes.has(node)) continue;
    for (const peer of [...(before ?? []), ...(after ?? [])]) {
      if (peer === node || !prevNodes.has(peer) || !nextNodes.has(peer)) continue;
      const key = linkKey(node, peer);
      if (!changed.has(key))
        changed.set(key, compareNames(node, peer) < 0 ? [node, peer] : [peer, node]);
    }
  }
  const linkChanges = [...changed.values()].sort(
    (x, y) => compareNames(x[0], y[0]) || compareNames(x[1], y[1]),
  );
  // A link that comes or goes with one of its nodes is that node's join or departure, told
  // elsewhere; only links between nodes present on both sides are news of their own.
  for (const link of linkChanges) {
    const was = hasLink(prevMesh, ...link);
    const is = hasLink(nextMesh, ...link);
    if (was && !is && nextNodes.has(link[0]) && nextNodes.has(link[1])) {
      events.push({
        kind: 'link_down',
        severity: 'warning',
        message: `link ${link[0]} — ${link[1]} is down`,
        link,
      });
    }
  }
  for (const link of linkChanges) {
    const was = hasLink(prevMesh, ...link);
    const is = hasLink(nextMesh, ...link);
    if (is && !was && prevNodes.has(link[0]) && prevNodes.has(link[1])) {
      events.push({
        kind: 'link_up',
        severity: 'info',
        message: `link ${link[0]} — ${link[1]} is up`,
        link,
      });
    }
  }

  const common = new Set([...prevNodes].filter((node) => nextNodes.has(node)));
  const prevPartitions = meshes.partitionsOf(prevMesh);
  const nextPartitions = meshes.partitionsOf(nextMesh);
  const overlapping = (group: readonly string[], candidates: readonly string[][]) => {
    const members = new Set(group);
    return candidates.filter((candidate) =>
      candidate.some((node) => common.has(node) && members.has(node)),
    );
  };
  for (const group of prevPartitions) {
    const sides = overlapping(group, nextPartitions);
    if (sides.length > 1) {
      events.push({
        kind: 'partition_detected',
        severity: 'error',
        message: `partition detected: ${describeSides(sides)}`,
        sides,
      });
    }
  }
  for (const group of nextPartitions) {
    const sides = overlapping(group, prevPartitions);
    if (sides.length > 1) {
      events.push({
        kind: 'partition_healed',
        severity: 'info',
        message: `partition healed: ${describeSides(sides)} rejoined`,
        sides,
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
    const oldCounts = new Map(oldSide.registries.map((entry) => [entry.registry, entry.count]));
    const newCounts = new Map(side.registries.map((entry) => [entry.registry, entry.count]));
    for (const registry of new Set([...oldCounts.keys(), ...newCounts.keys()])) {
      const from = oldCounts.get(registry) ?? null;
      const to = newCounts.get(registry) ?? null;
      if (from !== to) changes.push({ node: side.node, registry, from, to });
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
 * The timeline events between two states: member joined/left, pod ready/unready/terminating,
 * node up/down, link up/down, partition detected/healed (naming the sides) and one coalesced
 * registry-counts event. `meshes` is the caller's builder (the collector's, which built both
 * states' meshes already); without one the meshes are built here.
 */
export function diffClusterStates(
  prev: ClusterState,
  next: ClusterState,
  meshes: MeshBuilder = new MeshBuilder(),
): TimelineEventDraft[] {
  return [
    ...memberEvents(prev, next),
    ...meshEvents(prev, next, meshes),
    ...registryEvents(prev, next),
  ];
}
