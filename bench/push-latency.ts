/**
 * Push latency (issue 9, item 2): how long an emulator change takes to reach an SSE client and
 * the DOM of the dashboard in Chromium, against a client that polls the snapshot every 5 s as
 * libcluster's and Swarm's Kubernetes strategies poll the API — all three watching the same
 * changes in the same run.
 *
 * Setup: the sandbox (emulated Kubernetes API, real BEAM pods), the standalone production server,
 * one SSE client on `/api/clusters/{id}/events`, one Chromium page on `/clusters/{id}` and the
 * polling baseline. Changes, one at a time, 1–1.25 s apart (jittered, so the 5 s poll meets them
 * at every phase):
 *   - readiness toggles (`POST /_sandbox/pods/POD/ready`), round-robin over the pods, so each
 *     state holds longer than one poll period and the baseline sees every one;
 *   - scale down by one (the pod is deleted: terminating, then gone) and back up (a new pod),
 *     waiting for the new pod's node to be up before the next cycle.
 * A change's time is when its control request was sent (or the commit time the emulator's reply
 * carries, when it carries one): never later than the commit, so a latency can only be
 * over-stated. Matched:
 *   - SSE: the timeline event (`pod_ready`, `pod_unready`, `pod_terminating`, `member_joined`)
 *     naming the pod, stamped with `Date.now()` when its bytes were read;
 *   - DOM: a MutationObserver installed before the page's own scripts records
 *     `performance.timeOrigin + performance.now()` when the pod's table row (keyed by pod uid)
 *     gets the new `data-ready`, or appears, or goes; the page's clock is checked against this
 *     process's at the start and the end (same machine, same wall clock);
 *   - baseline: the first 5 s poll whose answer shows the change.
 *
 * Run alone: `tsx --conditions=react-server bench/push-latency.ts [--toggles 168] [--cycles 20]
 *   [--pods 6] [--profile /tmp/push/page.cpuprofile]`
 * with BEAMSCOPE_SERVER_JS pointing at a standalone build (default .next/standalone/server.js).
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import type { Page } from 'playwright-core';

import type { ClusterSnapshot } from '../lib/api';
import type { ClusterState } from '../lib/cluster-state';
import type { ControlReply, SandboxPod } from './support/control';
import { goalFigure, plainFigure, type Figure } from './support/figures';
import { installSignalHandlers } from './support/lifecycle';
import { TimedSseClient, type TimedEvent } from './support/sse-client';
import { sleep, settledPods, startBenchStack, waitUntil, withTimeout } from './support/stack';
import { ratio, summarize, type Summary } from './support/stats';

export interface PushLatencyOptions {
  /** BEAM pods in the sandbox; default 6 (toggles hold ≥ 6 s each, more than one poll). */
  pods?: number;
  /** Readiness changes; default 168 (a multiple of 2 × pods, so every pod ends Ready). */
  toggles?: number;
  /** Scale down/up cycles, two changes each; default 20. */
  cycles?: number;
  /** The baseline's poll period; default 5000 ms. */
  pollIntervalMs?: number;
  /** Write a Chromium CPU profile (.cpuprofile) of the page over the readiness phase here. */
  profile?: string | null;
  log?: (line: string) => void;
}

type ChangeKind = 'pod_unready' | 'pod_ready' | 'pod_terminating' | 'member_joined';

interface Change {
  kind: ChangeKind;
  pod: string;
  uid: string;
  changedAt: number;
  controlMs: number;
  /** Whether a baseline snapshot shows this change. */
  shows(state: ClusterState): boolean;
  /** Whether a DOM record shows this change. */
  showsInDom(record: DomRecord): boolean;
  sse?: TimedEvent;
}

interface DomRecord {
  /** `performance.timeOrigin + performance.now()` in the page. */
  t: number;
  id: string;
  ready: string;
  kind: 'attr' | 'added' | 'removed';
}

interface Poll {
  requestedAt: number;
  receivedAt: number;
  state: ClusterState;
}

export interface PushLatencyResults {
  pods: number;
  changes: { total: number; byKind: Record<string, number> };
  sse: Summary & { lost: number };
  dom: Summary & { lost: number };
  baseline: Summary & { missed: number; pollIntervalMs: number; polls: number };
  /** SSE latency split at the collector's timeline stamp: server side, then delivery. */
  /** Medians of the first and second half of the changes: a page or server slowing down shows. */
  trend: {
    sse: [number | null, number | null];
    dom: [number | null, number | null];
  };
  /** DOM minus SSE for the same change: the page's own share (EventSource, state, render). */
  pageSide: Summary;
  sseServerSide: Summary;
  sseDelivery: Summary;
  byKind: Record<string, { sse: Summary; dom: Summary; baseline: Summary }>;
  /** Round trips of the control requests (the change is somewhere inside each). */
  controlRoundTrip: Summary;
  /** The page's clock minus this process's, with its uncertainty (half the evaluate round trip). */
  clock: {
    start: { offsetMs: number; uncertaintyMs: number } | null;
    end: { offsetMs: number; uncertaintyMs: number } | null;
  };
  changeTime: 'request sent' | 'emulator reply';
  figures: {
    sseP99: Figure;
    domP99: Figure;
    sseMedian: Figure;
    domMedian: Figure;
    baselineMedian: Figure;
    baselineP99: Figure;
    ratioMedian: Figure;
    ratioP99: Figure;
  };
}

const SSE_P99_GOAL_MS = 100;
const DOM_P99_GOAL_MS = 250;

/**
 * Installed before the page's scripts: records every change of a member row. A string, not a
 * function: tsx compiles functions with esbuild's `__name` helper, which the page does not have.
 */
export const ROW_RECORDER = `(() => {
  const SELECTOR = 'tr[data-testid="member-row"]';
  const rows = (node) =>
    !(node instanceof HTMLElement) ? [] : node.matches(SELECTOR) ? [node] : [...node.querySelectorAll(SELECTOR)];
  // Handed to the bench as it happens (a CDP binding): nothing to fetch from a busy page later.
  const push = (t, row, kind) =>
    window.__benchRow({ t, id: row.dataset.id || '', ready: row.dataset.ready || '', kind });
  new MutationObserver((mutations) => {
    const t = performance.timeOrigin + performance.now();
    for (const mutation of mutations) {
      if (mutation.type === 'attributes') {
        for (const row of rows(mutation.target)) push(t, row, 'attr');
        continue;
      }
      for (const node of mutation.addedNodes) for (const row of rows(node)) push(t, row, 'added');
      for (const node of mutation.removedNodes) for (const row of rows(node)) push(t, row, 'removed');
    }
  }).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ['data-ready', 'data-id'],
  });
})();`;

/**
 * The page's clock minus ours, measured across one evaluate round trip (null when the page does
 * not answer within 10 s: a busy renderer must not hang the bench).
 */
export async function clockOffset(
  page: Page,
): Promise<{ offsetMs: number; uncertaintyMs: number } | null> {
  let best = { offsetMs: 0, uncertaintyMs: Number.POSITIVE_INFINITY };
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const before = Date.now();
    const pageNow = await withTimeout(
      page.evaluate(() => performance.timeOrigin + performance.now()),
      10_000,
      null,
    );
    if (pageNow === null) return null;
    const after = Date.now();
    const uncertaintyMs = (after - before) / 2;
    if (uncertaintyMs < best.uncertaintyMs)
      best = { offsetMs: pageNow - (before + after) / 2, uncertaintyMs };
  }
  return {
    offsetMs: Math.round(best.offsetMs * 100) / 100,
    uncertaintyMs: Math.round(best.uncertaintyMs * 100) / 100,
  };
}

/** Medians of the samples of the first and of the second half of `count` changes. */
function halves(samples: Array<[number, number]>, count: number): [number | null, number | null] {
  const median = (part: Array<[number, number]>) => summarize(part.map(([, ms]) => ms)).medianMs;
  return [
    median(samples.filter(([index]) => index < count / 2)),
    median(samples.filter(([index]) => index >= count / 2)),
  ];
}

function memberOfPod(state: ClusterState, pod: string) {
  return state.members.find((member) => member.kubernetes?.podName === pod);
}

/** A baseline client: `GET /api/clusters/{id}` every `intervalMs`, from a random phase. */
function startPoller(url: string, intervalMs: number) {
  const polls: Poll[] = [];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const start = Date.now() + Math.random() * intervalMs;
  let tick = 0;
  const schedule = () => {
    if (stopped) return;
    // Anchored to the start, so a slow answer does not shift the phase of the later polls.
    const at = start + tick * intervalMs;
    tick += 1;
    timer = setTimeout(
      () => {
        const requestedAt = Date.now();
        fetch(url, { cache: 'no-store' })
          .then(async (response) => {
            const snapshot = (await response.json()) as ClusterSnapshot;
            polls.push({ requestedAt, receivedAt: Date.now(), state: snapshot.state });
          })
          .catch(() => undefined)
          .finally(schedule);
      },
      Math.max(0, at - Date.now()),
    );
  };
  schedule();
  return {
    polls,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export async function runPushLatencyBench(
  options: PushLatencyOptions = {},
): Promise<PushLatencyResults> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const podCount = options.pods ?? 6;
  const toggles = options.toggles ?? podCount * 2 * 14;
  const cycles = options.cycles ?? 20;
  const pollIntervalMs = options.pollIntervalMs ?? 5000;
  const stack = await startBenchStack({ pods: podCount, browser: true, log });
  let sse: TimedSseClient | undefined;
  let poller: ReturnType<typeof startPoller> | undefined;
  try {
    const { control, dashboard, clusterId } = stack;
    const clusterUrl = `${dashboard.url}/api/clusters/${encodeURIComponent(clusterId)}`;
    let pods = await settledPods(control, podCount);
    sse = await TimedSseClient.open(`${clusterUrl}/events`);
    const stream = sse;
    // Start from a quiet cluster: every pod Ready and its node connected and probed.
    await waitUntil('every node connected', 60_000, () => {
      const members = stream.state?.members ?? [];
      return (
        members.filter(
          (member) =>
            member.kubernetes?.ready &&
            member.beam?.connection.status === 'connected' &&
            member.beam.probedAt !== null,
        ).length === podCount
      );
    });

    const page = await stack.browser!.newPage({ viewport: { width: 1440, height: 1000 } });
    const rows: DomRecord[] = [];
    await page.exposeFunction('__benchRow', (row: DomRecord) => {
      rows.push(row);
    });
    await page.addInitScript({ content: ROW_RECORDER });
    await page.goto(`${dashboard.url}/clusters/${encodeURIComponent(clusterId)}`);
    await page.getByTestId('dashboard').waitFor({ timeout: 30_000 });
    await waitUntil(
      'the table rows',
      30_000,
      async () => (await page.locator('tr[data-testid="member-row"]').count()) === podCount,
    );
    const clockStart = await clockOffset(page);
    const cdp = options.profile ? await page.context().newCDPSession(page) : null;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
      await cdp.send('Profiler.start');
    }

    poller = startPoller(clusterUrl, pollIntervalMs);
    // Let the first poll land before the first change, so every change has a poll before it.
    await waitUntil('the first baseline poll', 2 * pollIntervalMs, () => poller!.polls.length > 0);

    const changes: Change[] = [];
    const sseWaits: Array<Promise<void>> = [];
    let lastChangeAt = 0;
    let emulatorTimes = 0;
    const record = (
      change: Change,
      reply: ControlReply<unknown>,
      wait: (event: TimedEvent) => boolean,
    ) => {
      changes.push(change);
      if (reply.changedAt !== reply.sentAt) emulatorTimes += 1;
      lastChangeAt = change.changedAt;
      sseWaits.push(
        stream.waitFor(wait, reply.sentAt, 15_000).then(
          (event) => {
            change.sse = event;
          },
          () => undefined,
        ),
      );
    };
    const pace = async (since: number) =>
      sleep(Math.max(0, since + 1000 + Math.random() * 250 - Date.now()));

    // Phase 1: readiness toggles, round-robin.
    pods = [...pods].sort((a, b) => a.name.localeCompare(b.name));
    const ready = new Map(pods.map((pod) => [pod.name, true]));
    log(
      `push-latency: ${toggles} readiness changes over ${podCount} pods, polled every ${pollIntervalMs} ms`,
    );
    for (let index = 0; index < toggles; index += 1) {
      const pod = pods[index % pods.length]!;
      const target = !ready.get(pod.name);
      const reply = await control.call('POST', `/pods/${encodeURIComponent(pod.name)}/ready`, {
        ready: target,
      });
      ready.set(pod.name, target);
      const kind: ChangeKind = target ? 'pod_ready' : 'pod_unready';
      record(
        {
          kind,
          pod: pod.name,
          uid: pod.uid,
          changedAt: reply.changedAt,
          controlMs: reply.repliedAt - reply.sentAt,
          shows: (state) => memberOfPod(state, pod.name)?.kubernetes?.ready === target,
          showsInDom: (row) =>
            row.id === pod.uid && row.ready === String(target) && row.kind !== 'removed',
        },
        reply,
        TimedSseClient.timeline(kind, { pod: pod.name }),
      );
      if ((index + 1) % 24 === 0) log(`push-latency: ${index + 1}/${toggles} readiness changes`);
      await pace(reply.sentAt);
    }

    if (cdp && options.profile) {
      const stopped = await withTimeout(cdp.send('Profiler.stop'), 60_000, null);
      if (stopped) {
        await writeFile(options.profile, JSON.stringify(stopped.profile));
        log(`push-latency: page profile written to ${options.profile}`);
      }
    }

    // Phase 2: scale down by one (a pod deleted) and back up (a new pod), one cycle at a time.
    log(`push-latency: ${cycles} scale down/up cycles`);
    for (let cycle = 0; cycle < cycles; cycle += 1) {
      const before = await settledPods(control, podCount);
      const known = new Set(before.map((pod) => pod.name));
      const down = await control.call<{ pods: SandboxPod[] }>('POST', '/scale', {
        replicas: podCount - 1,
      });
      const victim = down.body.pods.find((pod) => pod.terminating);
      if (!victim) throw new Error('push-latency: scaling down deleted no pod');
      record(
        {
          kind: 'pod_terminating',
          pod: victim.name,
          uid: victim.uid,
          changedAt: down.changedAt,
          controlMs: down.repliedAt - down.sentAt,
          shows: (state) => {
            const member = memberOfPod(state, victim.name);
            return !member || member.kubernetes?.terminating === true || !member.kubernetes?.ready;
          },
          showsInDom: (row) =>
            row.id === victim.uid && (row.kind === 'removed' || row.ready === 'false'),
        },
        down,
        TimedSseClient.timeline('pod_terminating', { pod: victim.name }),
      );
      // Its node stops gracefully, then the pod object goes.
      await stream.waitFor(
        TimedSseClient.timeline('member_left', { pod: victim.name }),
        down.sentAt,
        30_000,
      );
      await pace(down.sentAt);

      const up = await control.call<{ pods: SandboxPod[] }>('POST', '/scale', {
        replicas: podCount,
      });
      const added = up.body.pods.find((pod) => !known.has(pod.name) && !pod.terminating);
      if (!added) throw new Error('push-latency: scaling up created no pod');
      record(
        {
          kind: 'member_joined',
          pod: added.name,
          uid: added.uid,
          changedAt: up.changedAt,
          controlMs: up.repliedAt - up.sentAt,
          shows: (state) => memberOfPod(state, added.name) !== undefined,
          showsInDom: (row) => row.id === added.uid && row.kind !== 'removed',
        },
        up,
        TimedSseClient.timeline('member_joined', { pod: added.name }),
      );
      // The next cycle starts from a full, connected cluster.
      await stream.waitFor(
        (event) => event.timeline?.kind === 'node_up' && event.timeline.pod === added.name,
        up.sentAt,
        60_000,
      );
      await pace(up.sentAt);
      if ((cycle + 1) % 5 === 0) log(`push-latency: ${cycle + 1}/${cycles} scale cycles`);
    }

    // The baseline needs one more poll after the last change.
    await waitUntil('a baseline poll after the last change', 3 * pollIntervalMs, () =>
      poller!.polls.some((poll) => poll.requestedAt > lastChangeAt + 50),
    );
    poller.stop();
    await Promise.all(sseWaits);
    const clockEnd = await clockOffset(page);
    // Records still in flight from the page.
    await sleep(500);
    await withTimeout(page.close(), 10_000, null);

    // Latencies per change.
    const sseMs: number[] = [];
    const domMs: number[] = [];
    const baselineMs: number[] = [];
    const serverMs: number[] = [];
    const pageMs: number[] = [];
    const deliveryMs: number[] = [];
    const perKind = new Map<string, { sse: number[]; dom: number[]; baseline: number[] }>();
    let sseLost = 0;
    let domLost = 0;
    let missed = 0;
    const ordered = { sse: [] as Array<[number, number]>, dom: [] as Array<[number, number]> };
    for (const [index, change] of changes.entries()) {
      // A toggle reverts 2 changes later on the same pod: only what came before that counts.
      const until =
        changes.slice(index + 1).find((later) => later.uid === change.uid)?.changedAt ??
        Number.POSITIVE_INFINITY;
      const bucket = perKind.get(change.kind) ?? { sse: [], dom: [], baseline: [] };
      perKind.set(change.kind, bucket);
      if (change.sse) {
        const ms = change.sse.receivedAt - change.changedAt;
        sseMs.push(ms);
        ordered.sse.push([index, ms]);
        bucket.sse.push(ms);
        const at = change.sse.timeline?.at;
        if (typeof at === 'number') {
          serverMs.push(at - change.changedAt);
          deliveryMs.push(change.sse.receivedAt - at);
        }
      } else sseLost += 1;
      const row = rows.find(
        (entry) => entry.t >= change.changedAt && entry.t < until && change.showsInDom(entry),
      );
      if (row) {
        domMs.push(row.t - change.changedAt);
        ordered.dom.push([index, row.t - change.changedAt]);
        if (change.sse) pageMs.push(row.t - change.sse.receivedAt);
        bucket.dom.push(row.t - change.changedAt);
      } else domLost += 1;
      const poll = poller.polls.find(
        (entry) =>
          entry.receivedAt >= change.changedAt &&
          entry.requestedAt < until &&
          change.shows(entry.state),
      );
      if (poll) {
        baselineMs.push(poll.receivedAt - change.changedAt);
        bucket.baseline.push(poll.receivedAt - change.changedAt);
      } else missed += 1;
    }

    const sseSummary = summarize(sseMs);
    const domSummary = summarize(domMs);
    const baselineSummary = summarize(baselineMs);
    const byKindCount: Record<string, number> = {};
    for (const change of changes) byKindCount[change.kind] = (byKindCount[change.kind] ?? 0) + 1;
    return {
      pods: podCount,
      changes: { total: changes.length, byKind: byKindCount },
      sse: { ...sseSummary, lost: sseLost },
      dom: { ...domSummary, lost: domLost },
      baseline: { ...baselineSummary, missed, pollIntervalMs, polls: poller.polls.length },
      trend: {
        sse: halves(ordered.sse, changes.length),
        dom: halves(ordered.dom, changes.length),
      },
      pageSide: summarize(pageMs),
      sseServerSide: summarize(serverMs),
      sseDelivery: summarize(deliveryMs),
      byKind: Object.fromEntries(
        [...perKind].map(([kind, bucket]) => [
          kind,
          {
            sse: summarize(bucket.sse),
            dom: summarize(bucket.dom),
            baseline: summarize(bucket.baseline),
          },
        ]),
      ),
      controlRoundTrip: summarize(changes.map((change) => change.controlMs)),
      clock: { start: clockStart, end: clockEnd },
      changeTime: emulatorTimes === changes.length ? 'emulator reply' : 'request sent',
      figures: {
        sseP99: goalFigure(
          'push: change → SSE client, p99',
          sseSummary.p99Ms,
          SSE_P99_GOAL_MS,
          'ms',
          sseSummary.samples,
        ),
        domP99: goalFigure(
          'push: change → DOM (Chromium), p99',
          domSummary.p99Ms,
          DOM_P99_GOAL_MS,
          'ms',
          domSummary.samples,
        ),
        sseMedian: plainFigure(
          'push: change → SSE client, median',
          sseSummary.medianMs,
          'ms',
          sseSummary.samples,
        ),
        domMedian: plainFigure(
          'push: change → DOM (Chromium), median',
          domSummary.medianMs,
          'ms',
          domSummary.samples,
        ),
        baselineMedian: plainFigure(
          `baseline: ${pollIntervalMs / 1000} s snapshot poll, median`,
          baselineSummary.medianMs,
          'ms',
          baselineSummary.samples,
        ),
        baselineP99: plainFigure(
          `baseline: ${pollIntervalMs / 1000} s snapshot poll, p99`,
          baselineSummary.p99Ms,
          'ms',
          baselineSummary.samples,
        ),
        ratioMedian: plainFigure(
          'baseline / SSE, median',
          ratio(baselineSummary.medianMs, sseSummary.medianMs),
          '×',
        ),
        ratioP99: plainFigure(
          'baseline / SSE, p99',
          ratio(baselineSummary.p99Ms, sseSummary.p99Ms),
          '×',
        ),
      },
    };
  } finally {
    poller?.stop();
    await sse?.close();
    await stack.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  installSignalHandlers((line) => process.stderr.write(`${line}\n`));
  const { values } = parseArgs({
    options: {
      pods: { type: 'string' },
      toggles: { type: 'string' },
      cycles: { type: 'string' },
      profile: { type: 'string' },
    },
  });
  const results = await runPushLatencyBench({
    ...(values.pods ? { pods: Number(values.pods) } : {}),
    ...(values.toggles ? { toggles: Number(values.toggles) } : {}),
    ...(values.cycles ? { cycles: Number(values.cycles) } : {}),
    ...(values.profile ? { profile: values.profile } : {}),
  });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  process.exit(0);
}
