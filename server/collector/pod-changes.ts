import 'server-only';

// A Kubernetes change told at once: the state with only some pods' fields changed, without the
// whole rebuild (mesh, partitions, registries) that a probe's news needs.

import type { ClusterMember, ClusterState, UnclusteredMember } from '@/lib/cluster-state';
import { unclusteredOf } from '@/lib/diagnosis';
import type { KubernetesMember, KubernetesSourceStatus } from '@/lib/members';

/** Same pod, same member: the fields a member's key, node and identity come from. */
function samePod(a: KubernetesMember, b: KubernetesMember): boolean {
  return (
    a.ip === b.ip && a.podName === b.podName && a.podUid === b.podUid && a.beamNode === b.beamNode
  );
}

/**
 * The state `buildClusterState` would build from `members` and the BEAM sides `state` was built
 * with, when the pods Kubernetes lists changed only in place: the same pods (IP, name, uid, node
 * name) in the same order, some with other fields (readiness, restarts, phase, …). `before` is
 * the list `state` was built from; the source keeps an unchanged member's identity (see
 * `shareUnchanged`), so what changed is found by identity. Null when the change is more than that
 * (a pod came, went or was renamed; a member not found where `state` holds it): the caller
 * rebuilds.
 *
 * Whatever a probe changed since `state` is not in it; the next rebuild adds it. At 1,000 nodes a
 * rebuild costs tens of ms of a busy event loop and waits its turn behind the probes; this costs
 * a pass over the members.
 */
export function podsOnlyState(
  state: ClusterState,
  before: readonly KubernetesMember[],
  members: readonly KubernetesMember[],
  kubernetes: KubernetesSourceStatus,
  at: number,
): ClusterState | null {
  if (members.length !== before.length) return null;
  const changed: number[] = [];
  for (let index = 0; index < members.length; index += 1) {
    if (members[index] === before[index]) continue;
    if (!samePod(members[index]!, before[index]!)) return null;
    changed.push(index);
  }
  if (changed.length === 0) return null;
  const position = new Map<string, number>();
  state.members.forEach((member, index) => position.set(member.key, index));
  const next: ClusterMember[] = state.members.slice();
  const changedKeys = new Set<string>();
  for (const index of changed) {
    const pod = members[index]!;
    const key = pod.beamNode ?? `ip:${pod.ip}`;
    const at = position.get(key);
    // The member must hold the very pod it was built from (not a namesake's: the first wins).
    if (at === undefined || next[at]!.kubernetes !== before[index]) return null;
    next[at] = { ...next[at]!, kubernetes: pod };
    changedKeys.add(key);
  }
  // Why a ready pod is outside the main component: the pods' own fields count, nothing else moved.
  const main = new Set(state.partitions[0] ?? []);
  const held = new Map(state.unclustered.map((entry) => [entry.key, entry]));
  const unclustered: UnclusteredMember[] = [];
  for (const member of next) {
    const entry = changedKeys.has(member.key)
      ? unclusteredOf(member, main, state.ghosts, state.distribution)
      : (held.get(member.key) ?? null);
    if (entry) unclustered.push(entry);
  }
  return { ...state, at, kubernetes, members: next, unclustered };
}
