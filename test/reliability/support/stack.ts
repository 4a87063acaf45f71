import type { ClusterSnapshot, TimelineEventDetailsResponse } from '@/lib/api';
import type { ClusterState, TimelineEvent } from '@/lib/cluster-state';

import {
  startDashboard,
  startSandbox,
  type RunningDashboard,
  type RunningSandbox,
  type SandboxOptions,
} from '../../e2e/support/app';
import { diff, missingTimeline } from './diff';
import { faultsMode, recordScenario, type ScenarioResult } from './report';
import { StreamClient } from './stream';
import { kubeAccess, readTruth, type KubeAccess, type Truth } from './truth';

/** The cluster id the sandbox's beamscope.yaml configures. */
export const CLUSTER_ID = 'sandbox';

/** The dashboard's state, read both ways the browser gets it. */
export interface DashboardView {
  /** A fresh `GET /api/clusters/{id}`. */
  snapshot: ClusterState;
  /** What the event-stream client built by applying every delta since the start. */
  stream: ClusterState;
}

/** Thrown by {@link ReliabilityStack.waitForConverged}; carries the last diff. */
export class NotConvergedError extends Error {
  constructor(
    readonly diff: string[],
    timeoutMs: number,
  ) {
    super(`not converged in ${timeoutMs} ms:\n  ${diff.join('\n  ')}`);
  }
}

/** A sandbox, the standalone dashboard watching it, and the means to compare the two. */
export interface ReliabilityStack {
  sandbox: RunningSandbox;
  dashboard: RunningDashboard;
  access: KubeAccess;
  /** The event-stream client, started with the stack (it lives across scenarios). */
  stream: StreamClient;
  /** The emulator's objects and the nodes' own view (fails while the API is down or refusing). */
  truth(): Promise<Truth>;
  /** The dashboard's state from a fresh snapshot and from the stream. */
  dashboardState(): Promise<DashboardView>;
  /** Both views against the truth, lines prefixed `snapshot:` / `stream:`. */
  check(truth?: Truth): Promise<string[]>;
  /** Polls until both views match the truth; resolves to how long it took (ms). */
  waitForConverged(timeoutMs: number): Promise<number>;
  /** The last diff waitForConverged saw (empty once converged). */
  lastDiff: string[];
  /**
   * Polls the stream's state (what a browser shows, pushed) until `predicate` holds; resolves to
   * the ms since `from` (default now). Throws after `timeoutMs`.
   */
  waitForStream(
    predicate: (state: ClusterState) => boolean,
    timeoutMs: number,
    from?: number,
  ): Promise<number>;
  /** SSE gaps (since the stream's start, or since a `gaps.length` mark) as `lost` lines. */
  streamLost(sinceGap?: number): string[];
  /** Fault injection on the Kubernetes side. */
  kube: KubeFaults;
  stop(): Promise<void>;
}

/** The emulated API's fault routes (`/_sandbox/faults/*` and the older control routes). */
export interface KubeFaults {
  /**
   * The API server stops (connections refused, open ones reset) for `ms`, then restarts;
   * `replicas`: the Deployment is scaled halfway through, while no client can see it.
   */
  outage(ms: number, during?: { replicas?: number }): Promise<void>;
  /** Resolves once the API answers again (after an outage). */
  waitForApi(timeoutMs: number): Promise<number>;
  /** Ends open watches: `close` ends the chunked response, `reset` cuts the connection. */
  cutWatches(options?: {
    mode?: 'close' | 'reset';
    fraction?: number;
    resource?: string;
  }): Promise<{ cut: string[]; open: number }>;
  /** Open watch streams, per resource. */
  watches(): Promise<{ open: number; byResource: Record<string, number> }>;
  /** Compacts the watch history every `everyMs` for `ms`: resumes get 410 Expired. */
  expireStorm(ms: number, everyMs?: number): Promise<void>;
  /** Every request with beamscope's token answered 401 (or, `false`, accepted again). */
  rejectToken(rejected: boolean): Promise<void>;
  /** RBAC: `verbs` (default get/list/watch) on `resource` denied with 403 (or, `false`, granted again). */
  forbid(
    resource: 'endpointslices' | 'endpoints' | 'pods' | 'events',
    forbidden: boolean,
    verbs?: Array<'get' | 'list' | 'watch'>,
  ): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the sandbox (emulated Kubernetes API + real BEAM pods, on a free distribution port) and
 * the standalone dashboard server on its configuration (`BEAMSCOPE_SERVER_JS` selects the build),
 * and an event-stream client. Stop it in `afterAll`.
 */
export async function startReliabilityStack(
  options: { pods?: number } & SandboxOptions = {},
): Promise<ReliabilityStack> {
  const { pods, ...sandboxOptions } = options;
  const sandbox = await startSandbox(pods ?? 3, sandboxOptions);
  let dashboard: RunningDashboard | undefined;
  let stream: StreamClient | undefined;
  try {
    const access = await kubeAccess(sandbox.kubeconfig);
    dashboard = await startDashboard(sandbox.config);
    stream = new StreamClient(dashboard.url, CLUSTER_ID);
    await stream.ready();
    return makeStack(sandbox, dashboard, stream, access);
  } catch (error) {
    await stream?.stop();
    await dashboard?.stop();
    await sandbox.stop();
    throw error;
  }
}

/**
 * The events with each summary event (a mass join, leave, …: one event naming many members)
 * told once per member, its full list read from `GET /api/clusters/{id}/events/{seq}` as the
 * page's "list" button reads it: a member a summary names counts as told.
 */
async function expandSummaries(
  url: string,
  events: readonly TimelineEvent[],
): Promise<TimelineEvent[]> {
  const out: TimelineEvent[] = [];
  for (const event of events) {
    out.push(event);
    if (!event.expandable || !event.members) continue;
    const response = await fetch(
      `${url}/api/clusters/${CLUSTER_ID}/events/${event.seq}?limit=10000`,
    );
    if (!response.ok) throw new Error(`events/${event.seq}: ${response.status}`);
    const details = (await response.json()) as TimelineEventDetailsResponse;
    for (const member of details.members?.items ?? []) out.push({ ...event, ...member });
  }
  return out;
}

function makeStack(
  sandbox: RunningSandbox,
  dashboard: RunningDashboard,
  stream: StreamClient,
  access: KubeAccess,
): ReliabilityStack {
  const snapshot = async (): Promise<ClusterState> => {
    const response = await fetch(`${dashboard.url}/api/clusters/${CLUSTER_ID}`);
    if (!response.ok) throw new Error(`GET /api/clusters/${CLUSTER_ID}: ${response.status}`);
    return ((await response.json()) as ClusterSnapshot).state;
  };
  const control = (method: string, path: string, body?: unknown) =>
    sandbox.control(method, path, body);

  const stack: ReliabilityStack = {
    sandbox,
    dashboard,
    access,
    stream,
    lastDiff: [],
    truth: () => readTruth(access),
    async dashboardState() {
      return { snapshot: await snapshot(), stream: stream.state() };
    },
    async check(truth) {
      const current = truth ?? (await readTruth(access));
      const view = await stack.dashboardState();
      return [
        ...diff(current, view.snapshot).map((line) => `snapshot: ${line}`),
        ...diff(current, view.stream).map((line) => `stream: ${line}`),
      ];
    },
    async waitForConverged(timeoutMs) {
      const started = Date.now();
      for (;;) {
        try {
          stack.lastDiff = await stack.check();
        } catch (error) {
          stack.lastDiff = [`truth or dashboard unreadable: ${(error as Error).message}`];
        }
        if (stack.lastDiff.length === 0) return Date.now() - started;
        if (Date.now() - started > timeoutMs)
          throw new NotConvergedError(stack.lastDiff, timeoutMs);
        await sleep(250);
      }
    },
    async waitForStream(predicate, timeoutMs, from = Date.now()) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (stream.current && predicate(stream.state())) return Date.now() - from;
        if (Date.now() > deadline) {
          throw new Error(
            `stream condition not met in ${timeoutMs} ms; kubernetes link: ${JSON.stringify(stream.current?.state.kubernetes)}`,
          );
        }
        await sleep(20);
      }
    },
    streamLost(sinceGap = 0) {
      return stream.gaps
        .slice(sinceGap)
        .map((gap) => `SSE gap: seq ${gap.from} → ${gap.to} with no snapshot to cover it`);
    },
    kube: {
      async outage(ms, during) {
        await control('POST', '/faults/outage', { ms, ...during });
      },
      async waitForApi(timeoutMs) {
        const started = Date.now();
        for (;;) {
          try {
            await control('GET', '/faults/watches');
            return Date.now() - started;
          } catch {
            if (Date.now() - started > timeoutMs)
              throw new Error(`the API did not come back in ${timeoutMs} ms`);
            await sleep(100);
          }
        }
      },
      async cutWatches(options = {}) {
        return (await control('POST', '/faults/cut-watches', options)) as {
          cut: string[];
          open: number;
        };
      },
      async watches() {
        return (await control('GET', '/faults/watches')) as {
          open: number;
          byResource: Record<string, number>;
        };
      },
      async expireStorm(ms, everyMs) {
        await control('POST', '/faults/expire-storm', { ms, ...(everyMs ? { everyMs } : {}) });
      },
      async rejectToken(rejected) {
        await control('POST', '/token-rejected', { rejected });
      },
      async forbid(resource, forbidden, verbs) {
        await control('POST', '/forbidden', { resource, forbidden, ...(verbs ? { verbs } : {}) });
      },
    },
    async stop() {
      await stream.stop();
      await dashboard.stop();
      await sandbox.stop();
    },
  };
  return stack;
}

/** What a scenario's body reports back: its measured times and anything worth noting. */
export interface ScenarioOutcome {
  detectMs: number | null;
  recoverMs: number | null;
  notes?: string;
}

/**
 * Runs one scenario on a converged stack and records it (`recordScenario`), whatever happens:
 * the truth before, the body (inject, measure detection and recovery), convergence (which fills
 * the final diff), then data lost — SSE gaps and timeline events missing for the net change the
 * truth went through. Returns the record; the test asserts on it.
 */
export async function runScenario(
  stack: ReliabilityStack,
  meta: { scenario: string; injected: string; convergeTimeoutMs?: number },
  body: () => Promise<ScenarioOutcome>,
): Promise<ScenarioResult & { error?: string }> {
  const mode = faultsMode();
  await stack.waitForConverged(60_000);
  const before = await stack.truth();
  const gapMark = stack.stream.gaps.length;
  const seqMark = stack.stream.seq;
  let outcome: ScenarioOutcome = { detectMs: null, recoverMs: null };
  let error: string | undefined;
  try {
    outcome = await body();
  } catch (caught) {
    error = (caught as Error).message;
  }
  let diffLines: string[];
  try {
    await stack.waitForConverged(meta.convergeTimeoutMs ?? 60_000);
    diffLines = [];
  } catch (caught) {
    diffLines = caught instanceof NotConvergedError ? caught.diff : [(caught as Error).message];
  }
  const lost = [...stack.streamLost(gapMark)];
  try {
    const after = await stack.truth();
    const events = await expandSummaries(stack.dashboard.url, stack.stream.eventsAfter(seqMark));
    lost.push(...missingTimeline(before, after, events));
  } catch (caught) {
    lost.push(`truth unreadable after the scenario: ${(caught as Error).message}`);
  }
  const result: ScenarioResult = {
    scenario: meta.scenario,
    injected: meta.injected,
    detectMs: outcome.detectMs,
    recoverMs: outcome.recoverMs,
    diff: diffLines,
    lost,
    mode,
    ...(error || outcome.notes
      ? {
          notes: [outcome.notes, error ? `failed: ${error}` : undefined].filter(Boolean).join('; '),
        }
      : {}),
  };
  await recordScenario(result);
  return { ...result, ...(error ? { error } : {}) };
}
