/**
 * Why a node went down: the best evidence beamscope holds for a `node_down`, a `link_down` or an
 * event that stands for many of them, joined across both sides — the pod's fate on the Kubernetes
 * side (deleted, removed at once, its container OOM-killed or crashed, failing its readiness
 * probe) and beamscope's own connection (the cookie refused, another node answering, ticks that
 * stopped, the connection closed). Pure: the evidence comes in, a cause goes out; the collector
 * (server/collector/down-causes.ts) gathers the evidence and amends an event when a better cause
 * arrives after it, which the browser applies with {@link applyCauseAmendment}.
 */
import type { BeamConnection, TimelineEvent } from './cluster-state';
import type { KubernetesMember } from './members';

/** Why a node or a link went down, as a closed list: the page and the tests read the code. */
export type DownCauseCode =
  /** The container was killed for exceeding its memory limit (`OOMKilled`, exit code 137). */
  | 'oom_killed'
  /** The container ended unasked: a crash, an exit code, a signal (`Error`, `Completed`, …). */
  | 'container_exited'
  /** The pod was evicted (node pressure, the eviction API). */
  | 'pod_evicted'
  /** The pod is being deleted: a scale-down, a rollout, a drain, `kubectl delete`. */
  | 'pod_deleted'
  /** The pod vanished without terminating first: force-deleted, or its Kubernetes node was lost. */
  | 'pod_removed'
  /** The pod fails its readiness probe: peers that cluster on ready endpoints drop it. */
  | 'readiness_failed'
  /** The node refused beamscope's cookie. */
  | 'auth_failed'
  /** Another node answers at the member's address. */
  | 'name_mismatch'
  /** The node stopped answering: ticks or probes timed out (frozen, overloaded, a slow link). */
  | 'tick_timeout'
  /** Nothing answers at the node's address (EPMD or the distribution port). */
  | 'unreachable'
  /** The distribution connection closed, with no other evidence yet. */
  | 'connection_closed'
  /** Two nodes lost each other while both still answer beamscope: the network between them. */
  | 'peers_disconnected';

/** Which side of the join the decisive evidence came from. */
export type CauseSide = 'kubernetes' | 'beam';

/** The cause an event carries. */
export interface DownCause {
  code: DownCauseCode;
  side: CauseSide;
  /** One line for the timeline, e.g. `container app OOMKilled (exit code 137), restart 3`. */
  detail: string;
  /** What else was seen, a few short lines (e.g. beamscope's own view of the connection). */
  evidence?: string[];
}

/** How many events of a summary went down for each cause (bounded: one entry per code). */
export interface CauseCount {
  code: DownCauseCode;
  count: number;
}

/** A Kubernetes Event about a pod, as the evidence keeps it. */
export interface PodEventEvidence {
  reason: string;
  message: string;
  /** When beamscope saw it (ms since the epoch). */
  at: number;
}

/** What is known about one member when its node or link went down. */
export interface NodeEvidence {
  /** The pod as last listed (also after it left the list), null when Kubernetes never listed it. */
  kubernetes: KubernetesMember | null;
  /** When the pod left Kubernetes' list (ms since the epoch), null while it is listed. */
  goneAt: number | null;
  /** Whether it was terminating before it left (graceful deletion) — else it vanished at once. */
  wasTerminating: boolean;
  /** Recent Kubernetes Events about the pod, oldest first. */
  podEvents: readonly PodEventEvidence[];
  /** beamscope's connection to the node (its last failure, when it failed). */
  connection: BeamConnection | null;
  /**
   * Since when beamscope was last connected to the node (ms since the epoch), when known: a
   * container that ended before the node it was connected to came up is an earlier run's story.
   */
  upSince?: number | null;
}

/** Kubernetes' times are whole seconds: a termination's `finishedAt` may read up to 1 s early. */
const WHOLE_SECOND_MS = 1000;

/** Pod Events older than this before the disconnect are not its cause. */
export const EVIDENCE_WINDOW_MS = 60_000;

/**
 * A container's termination explains a disconnect only if it ended about then: a container that
 * was OOM-killed a minute ago and has run since did not take the node down now. Kubernetes' times
 * are whole seconds, and a link's event may be told a few seconds after the disconnect.
 */
export const TERMINATION_WINDOW_MS = 15_000;

/** How long after a disconnect evidence may still arrive and amend its event. */
export const AMEND_WINDOW_MS = 5_000;

/** Stronger evidence ranks higher: a cause is amended only by a higher one. */
const RANK: Record<DownCauseCode, number> = {
  oom_killed: 12,
  container_exited: 11,
  pod_evicted: 10,
  pod_deleted: 9,
  pod_removed: 8,
  readiness_failed: 7,
  auth_failed: 6,
  name_mismatch: 5,
  tick_timeout: 4,
  unreachable: 3,
  peers_disconnected: 2,
  connection_closed: 1,
};

/** How the page names a cause in a few words. */
export const CAUSE_LABEL: Record<DownCauseCode, string> = {
  oom_killed: 'OOMKilled',
  container_exited: 'container exited',
  pod_evicted: 'pod evicted',
  pod_deleted: 'pod deleted',
  pod_removed: 'pod removed at once',
  readiness_failed: 'readiness probe failing',
  auth_failed: 'cookie refused',
  name_mismatch: 'another node answered',
  tick_timeout: 'stopped answering',
  unreachable: 'unreachable',
  connection_closed: 'connection closed',
  peers_disconnected: 'the nodes lost each other',
};

/** Whether `next` is stronger evidence than `current`. */
export function outranks(next: DownCause | null, current: DownCause | undefined | null): boolean {
  if (!next) return false;
  return !current || RANK[next.code] > RANK[current.code];
}

/**
 * Messages from outside (a kubelet's probe output, a connection's reason) are cut to this many
 * characters: a cause travels on every event it explains, and the wire stays bounded.
 */
export const CAUSE_TEXT_LIMIT = 160;

function clip(text: string): string {
  return text.length > CAUSE_TEXT_LIMIT ? `${text.slice(0, CAUSE_TEXT_LIMIT - 1)}…` : text;
}

function within(at: number | null, now: number): boolean {
  return at !== null && Number.isFinite(at) && at >= now - EVIDENCE_WINDOW_MS;
}

const recentEvents = (evidence: NodeEvidence, now: number, reasons: readonly string[]) =>
  evidence.podEvents.filter((event) => reasons.includes(event.reason) && within(event.at, now));

/**
 * Who took the pod away, as its DisruptionTarget condition tells: an eviction through the API (a
 * drain is one; beamscope's Role reads no Node, so it cannot tell a drain from the autoscaler's
 * or a descheduler's eviction), the scheduler's preemption, the taint manager, the kubelet.
 */
function disruptionDetail(name: string, pod: KubernetesMember): string {
  const onNode = pod.k8sNode ? ` ${pod.k8sNode}` : '';
  switch (pod.disruption?.reason) {
    case 'EvictionByEvictionAPI':
      return `pod ${name} was evicted through the Eviction API (a drain of its node${onNode}, the cluster autoscaler or a descheduler)`;
    case 'PreemptionByScheduler':
      return `pod ${name} was preempted by the scheduler for a higher-priority pod`;
    case 'DeletionByTaintManager':
      return `pod ${name} was deleted by the taint manager (its node${onNode} has a NoExecute taint)`;
    case 'TerminationByKubelet':
      return `pod ${name} was terminated by the kubelet of its node${onNode} (node pressure or shutdown)`;
    case 'DeletionByPodGC':
      return `pod ${name} was deleted by the pod garbage collector (its node${onNode} is gone or out of service)`;
    default: {
      const { reason, message } = pod.disruption ?? {};
      const said = [reason, message].filter(Boolean).join(': ');
      return `pod ${name} was disrupted${said ? `: ${clip(said)}` : ''}`;
    }
  }
}

/** The Kubernetes side's cause, or null when the pod shows nothing that explains a disconnect. */
function kubernetesCause(evidence: NodeEvidence, now: number): DownCause | null {
  const pod = evidence.kubernetes;
  if (!pod) return null;
  const name = pod.podName ?? pod.ip;
  const termination = pod.lastTermination;
  const finishedAt = Date.parse(termination?.finishedAt ?? '');
  const sinceUp = evidence.upSince ?? -Infinity;
  if (
    termination &&
    Number.isFinite(finishedAt) &&
    finishedAt >= now - TERMINATION_WINDOW_MS &&
    finishedAt >= sinceUp - WHOLE_SECOND_MS
  ) {
    const exit = `exit code ${termination.exitCode}${termination.signal ? `, signal ${termination.signal}` : ''}`;
    const restarts = pod.restarts !== null ? `, restarts ${pod.restarts}` : '';
    const oom = termination.reason === 'OOMKilled';
    return {
      code: oom ? 'oom_killed' : 'container_exited',
      side: 'kubernetes',
      detail: `container ${termination.container} of pod ${name} ${oom ? 'was OOMKilled' : `terminated: ${termination.reason ?? 'no reason given'}`} (${exit}${restarts})`,
    };
  }
  const evicted = recentEvents(evidence, now, ['Evicted'])[0];
  if (evicted) {
    return {
      code: 'pod_evicted',
      side: 'kubernetes',
      detail: `pod ${name} was evicted: ${clip(evicted.message)}`,
    };
  }
  const deleted = pod.terminating || (evidence.goneAt !== null && evidence.wasTerminating);
  if (pod.disruption && (deleted || evidence.goneAt !== null)) {
    return { code: 'pod_evicted', side: 'kubernetes', detail: disruptionDetail(name, pod) };
  }
  if (deleted) {
    const killing = recentEvents(evidence, now, ['Killing']).at(-1);
    return {
      code: 'pod_deleted',
      side: 'kubernetes',
      detail: `pod ${name} was deleted (scale-down, rollout, drain or delete)${killing ? `: ${clip(killing.message)}` : ''}`,
    };
  }
  if (evidence.goneAt !== null) {
    return {
      code: 'pod_removed',
      side: 'kubernetes',
      detail: `pod ${name} vanished without terminating (force-deleted, or its Kubernetes node${pod.k8sNode ? ` ${pod.k8sNode}` : ''} was lost)`,
    };
  }
  const unhealthy = recentEvents(evidence, now, ['Unhealthy']).at(-1);
  if (!pod.serving || (unhealthy && !pod.ready)) {
    return {
      code: 'readiness_failed',
      side: 'kubernetes',
      detail: `pod ${name} fails its readiness probe${unhealthy ? `: ${clip(unhealthy.message)}` : ''}; peers that cluster on ready endpoints drop it`,
    };
  }
  return null;
}

/** beamscope's side: what its own connection to the node says, or null while connected. */
function beamCause(connection: BeamConnection | null): DownCause | null {
  if (!connection || connection.status === 'connected' || connection.status === 'untracked')
    return null;
  const reason = clip(connection.reason ?? '');
  const cause = (code: DownCauseCode, detail: string): DownCause => ({
    code,
    side: 'beam',
    detail: reason ? `${detail}: ${reason}` : detail,
  });
  switch (connection.code) {
    case 'auth_failed':
      return cause('auth_failed', 'the node refused beamscope’s cookie');
    case 'node_name_mismatch':
      return cause('name_mismatch', 'another node answered at the member’s address');
    case 'timeout':
      return cause('tick_timeout', 'the node stopped answering');
    case 'epmd_unreachable':
    case 'dist_unreachable':
    case 'node_not_registered':
      return cause('unreachable', 'nothing answers at the node’s address');
    default:
      return cause('connection_closed', 'the connection closed');
  }
}

/**
 * The best cause the evidence gives for one member's node going down, at `now` (about the
 * disconnect): the pod's fate when Kubernetes shows one, with beamscope's own view beside it as
 * evidence, else beamscope's view alone. Null when nothing explains it (the node looks healthy).
 */
export function nodeCause(evidence: NodeEvidence, now: number): DownCause | null {
  const kubernetes = kubernetesCause(evidence, now);
  const beam = beamCause(evidence.connection);
  if (kubernetes && beam) return { ...kubernetes, evidence: [`beamscope: ${beam.detail}`] };
  return kubernetes ?? beam;
}

/**
 * A link's cause: the stronger of its two ends' causes; when neither end shows one (both
 * healthy and answering beamscope), the nodes lost each other.
 */
export function linkCause(
  ends: readonly [NodeEvidence | null, NodeEvidence | null],
  link: readonly [string, string],
  now: number,
): DownCause {
  let best: DownCause | null = null;
  for (const end of ends) {
    const cause = end ? nodeCause(end, now) : null;
    if (outranks(cause, best)) best = cause;
  }
  return (
    best ?? {
      code: 'peers_disconnected',
      side: 'beam',
      detail: `${link[0]} and ${link[1]} lost each other while both answer beamscope (the network between them, or a disconnect)`,
    }
  );
}

/** The causes of many events, counted by code, most frequent first (ties: stronger first). */
export function tallyCauses(causes: ReadonlyArray<DownCause | null>): CauseCount[] {
  const counts = new Map<DownCauseCode, number>();
  for (const cause of causes) if (cause) counts.set(cause.code, (counts.get(cause.code) ?? 0) + 1);
  return [...counts.entries()]
    .map(([code, count]) => ({ code, count }))
    .sort((a, b) => b.count - a.count || RANK[b.code] - RANK[a.code]);
}

/** A summary's one line: `OOMKilled ×3, pod deleted ×1`. */
export function tallyText(counts: readonly CauseCount[]): string {
  return counts.map((entry) => `${CAUSE_LABEL[entry.code]} ×${entry.count}`).join(', ');
}

/** Whether two tallies say the same. */
export function sameTally(a: readonly CauseCount[] = [], b: readonly CauseCount[] = []): boolean {
  return (
    a.length === b.length &&
    a.every((entry, index) => entry.code === b[index]!.code && entry.count === b[index]!.count)
  );
}

/** The one line an amendment event carries. */
export function amendmentMessage(
  target: string,
  cause: DownCause | undefined,
  causes?: readonly CauseCount[],
): string {
  if (causes && causes.length > 0) return `why ${target}: ${tallyText(causes)}`;
  return `why ${target}: ${cause ? `${CAUSE_LABEL[cause.code]} — ${cause.detail}` : 'unknown'}`;
}

/**
 * Applies a `down_cause` amendment to the timeline it refers to: the event it amends takes the
 * new cause (and tally), and the amendment itself is not kept as a line. When the amended event
 * is no longer held, the amendment is kept as its own line, so the cause is still shown.
 */
export function applyCauseAmendment(
  timeline: readonly TimelineEvent[],
  amendment: TimelineEvent,
): TimelineEvent[] {
  const index =
    amendment.amends === undefined
      ? -1
      : timeline.findIndex((event) => event.seq === amendment.amends);
  if (index < 0) return [...timeline, amendment];
  const target = timeline[index]!;
  const next = [...timeline];
  next[index] = {
    ...target,
    ...(amendment.cause ? { cause: amendment.cause } : {}),
    ...(amendment.causes ? { causes: amendment.causes } : {}),
  };
  return next;
}

/**
 * The latest time a member's node went down with a cause on the timeline (its `node_down`, or its
 * departure while its node was up), for the node drawer; null when the timeline holds none.
 */
export function lastDownOf(
  timeline: readonly TimelineEvent[],
  member: { key: string; node: string | null },
): { at: number; seq: number; cause: DownCause } | null {
  for (let index = timeline.length - 1; index >= 0; index -= 1) {
    const event = timeline[index]!;
    if (event.kind !== 'node_down' && event.kind !== 'member_left') continue;
    if (event.key !== member.key && (member.node === null || event.node !== member.node)) continue;
    if (event.cause) return { at: event.at, seq: event.seq, cause: event.cause };
  }
  return null;
}
