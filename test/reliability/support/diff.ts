import type { ClusterState, TimelineEvent } from '@/lib/cluster-state';

import type { Truth } from './truth';

const list = (values: readonly string[]) => (values.length ? values.join(', ') : 'none');
const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((value, index) => value === b[index]);

/**
 * Where the dashboard's state differs from the truth, one line per difference: members (the
 * Service's addresses, and ghosts the mesh shows), readiness, the pod fields beamscope reads,
 * beamscope's connection to every running node, each node's visible peers, the partitions, and
 * the status of the Kubernetes link (which must be `ok` when the truth could be read at all).
 * Empty when they agree.
 */
export function diff(truth: Truth, state: ClusterState): string[] {
  const out: string[] = [];
  const running = new Map(truth.nodes.map((node) => [node.node, node]));
  const byIp = new Map(
    state.members
      .filter((member) => member.kubernetes)
      .map((member) => [member.kubernetes!.ip, member]),
  );

  if (state.kubernetes.state !== 'ok') {
    out.push(
      `kubernetes link: ${state.kubernetes.state}${state.kubernetes.state === 'error' ? ` (${state.kubernetes.code}: ${state.kubernetes.reason})` : ''}, but the API answers`,
    );
  }
  if (state.distribution.state !== 'ok') {
    out.push(`distribution: ${state.distribution.code}: ${state.distribution.reason}`);
  }

  for (const expected of truth.members) {
    const member = byIp.get(expected.ip);
    const label = `member ${expected.node} (pod ${expected.podName ?? '?'})`;
    if (!member) {
      out.push(`${label}: Kubernetes lists it, the dashboard does not`);
      continue;
    }
    const pod = member.kubernetes!;
    const fields: Array<[string, unknown, unknown]> = [
      ['ready', expected.ready, pod.ready],
      ['terminating', expected.terminating, pod.terminating],
      ['pod', expected.podName, pod.podName],
      ['phase', expected.phase, pod.phase],
      ['restarts', expected.restarts, pod.restarts],
      ['node name', expected.node, member.node],
    ];
    for (const [field, want, got] of fields) {
      if (want !== got)
        out.push(`${label}: ${field} is ${String(want)}, the dashboard shows ${String(got)}`);
    }
    const node = running.get(expected.node);
    const connection = member.beam?.connection.status ?? 'none';
    if (node) {
      if (connection !== 'connected') {
        out.push(`${label}: its node is up, the dashboard's connection is ${connection}`);
      } else {
        const sees = member.beam?.sees ?? null;
        if (sees === null) out.push(`${label}: the dashboard does not know the node's peers`);
        else if (!sameList([...sees].sort(), node.sees)) {
          out.push(
            `${label}: the node sees ${list(node.sees)}, the dashboard shows ${list([...sees].sort())}`,
          );
        }
      }
    } else if (connection === 'connected') {
      out.push(`${label}: its node is not running, the dashboard shows it connected`);
    }
  }
  const listed = new Set(truth.members.map((member) => member.ip));
  for (const [ip, member] of byIp) {
    if (!listed.has(ip))
      out.push(`member ${member.key}: the dashboard lists it, Kubernetes does not`);
  }

  // Ghosts: nodes in the mesh that no endpoint accounts for.
  const endpointNodes = new Set(truth.members.map((member) => member.node));
  const expectedGhosts = truth.partitions
    .flat()
    .filter((node) => !endpointNodes.has(node))
    .sort();
  const ghosts = state.members
    .filter((member) => !member.kubernetes)
    .map((member) => member.node ?? member.key)
    .sort();
  if (!sameList(expectedGhosts, ghosts)) {
    out.push(
      `mesh-only members: the truth has ${list(expectedGhosts)}, the dashboard ${list(ghosts)}`,
    );
  }

  const partitions = (parts: readonly string[][]) =>
    parts
      .map((part) => [...part].sort().join(' '))
      .sort()
      .map((part) => `[${part}]`)
      .join(' ');
  if (partitions(truth.partitions) !== partitions(state.partitions)) {
    out.push(
      `partitions: the nodes form ${partitions(truth.partitions) || 'none'}, the dashboard shows ${partitions(state.partitions) || 'none'}`,
    );
  }
  return out;
}

/**
 * The timeline events the net change from `before` to `after` calls for and `events` lacks: a
 * member that appeared (`member_joined`), one that went (`member_left`), a readiness that
 * flipped (`pod_ready` / `pod_unready`). Changes that went and came back within the window are
 * not required (the dashboard may legitimately coalesce them).
 */
export function missingTimeline(
  before: Truth,
  after: Truth,
  events: readonly TimelineEvent[],
): string[] {
  const out: string[] = [];
  const has = (kind: TimelineEvent['kind'], node: string) =>
    events.some((event) => event.kind === kind && (event.node === node || event.key === node));
  const old = new Map(before.members.map((member) => [member.node, member]));
  const now = new Map(after.members.map((member) => [member.node, member]));
  for (const [node, member] of now) {
    const was = old.get(node);
    if (!was) {
      if (!has('member_joined', node)) out.push(`timeline: no member_joined for ${node}`);
    } else if (member.ready !== was.ready && !member.terminating) {
      const kind = member.ready ? 'pod_ready' : 'pod_unready';
      if (!has(kind, node)) out.push(`timeline: no ${kind} for ${node}`);
    }
  }
  for (const node of old.keys()) {
    if (!now.has(node) && !has('member_left', node))
      out.push(`timeline: no member_left for ${node}`);
  }
  return out;
}
