/**
 * Browser benchmark at scale (issue 9, item 6): a 1,000-member cluster with partitions, drawn
 * by the standalone production server's dashboard in real headless Chromium.
 *
 * The members come from the emulated Kubernetes API (1,000 pods of the Service, each on its own
 * loopback address; in a child process of its own, as a kube-apiserver is) and their BEAM side
 * from simulated nodes (test/support/sim-node, in another child process), split into partitions
 * (600/300/100); `--no-sim` leaves the BEAM side unreachable (pods only). Measured in the page:
 *   - first drawn frame after data, the median of 5 page loads: the `/api/clusters/{id}`
 *     response's end (Resource Timing) → the mesh view's `beamscope:graph-first-draw` mark;
 *   - frame time (p95, median, p99) while the page follows a split and a heal, and during
 *     scripted wheel zoom and drag pan of the graph: deltas between requestAnimationFrame
 *     callbacks collected by a script injected before the page's own, with the load average
 *     at the end of each span. No "while the layout settles" figure: nothing settles above 300
 *     members (see `settle` in the results);
 *   - the JS heap after a forced GC (CDP `Runtime.getHeapUsage`);
 *   - with simulated nodes, push latency while all of them are probed (bench/push-latency-scale.ts):
 *     change → SSE client and change → DOM, with a page of its own.
 * Headless Chromium runs with --disable-gpu: the canvas is rasterised in software, so these are
 * pessimistic figures for a desktop browser with GPU raster.
 *
 * Run alone: `tsx --conditions=react-server bench/browser-scale.ts [--members 1000]
 *   [--partitions 600,300,100] [--no-sim] [--no-push] [--loads 5]
 *   [--profile /tmp/browser/update.cpuprofile]
 *   [--zoom-profile /tmp/browser/zoom.cpuprofile]`
 * with BEAMSCOPE_SERVER_JS pointing at a standalone build (default: .next/standalone/server.js).
 * `--serve` starts the cluster and the server only (and prints their address and config), and
 * `--url URL` measures a dashboard already serving such a cluster: two builds, one cluster.
 * `--push-only` measures the push phase alone; `--shared-api` runs the emulated API in the
 * simulated nodes' process (as this bench did before), not in a process of its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import type { CDPSession, Page } from 'playwright-core';
import { stringify } from 'yaml';

import { expandState, type WireClusterState } from '../lib/peer-wire';
import { startEmulatedApi } from '../server/sandbox/kube-api';
import { LOOPBACK_MAPPING } from '../server/sandbox/pod-network';
import { freePort, startDashboard, type RunningDashboard } from '../test/e2e/support/app';
import { launchChromium } from '../test/e2e/support/browser';
import { measurePushAtScale, type PushAtScaleResults } from './push-latency-scale';
import { countFlag } from './support/flags';
import { quantile, roundTo } from './support/stats';
import {
  simulatedAddresses,
  simulatedAddressMap,
  startSimulatedClusterProcess,
  type PodReadyTiming,
} from '../test/support/sim-node';

/** A process's event-loop delay over a span, ms. */
export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

/** Preloaded into the dashboard server: its event-loop delay and Kubernetes member changes. */
const SERVER_TRACE = new URL('./support/server-trace.mjs', import.meta.url).href;

/** A figure against its goal, as bench/run.ts tabulates them. */
export interface GoalFigure {
  /** The table's row: what was measured, at what size, its spread and the load average. */
  label: string;
  value: number | null;
  /** Absent where the issue sets no goal: every figure at 2,000 members is reported only. */
  goal?: number;
  met?: boolean;
  unit: 'ms' | 'frames';
  /** How many measurements the value summarises. */
  samples: number;
}

/** Frame times (deltas between requestAnimationFrame callbacks) of a span, against a goal. */
export type FrameFigure = GoalFigure & {
  medianMs: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  durationMs: number;
  /** Frame deltas over 25 ms (a 60 Hz frame and a half): frames the page missed. */
  missedFrames: number;
  /** The 1-minute load average when the span ended. */
  loadAverage: number;
};

/** Everything {@link runBrowserScaleBench} measured. */
export interface BrowserScaleResults {
  members: number;
  /** The machine's 1-minute load average when the bench started measuring the page. */
  loadAverage: number;
  /** Sizes of the partitions asked of the simulated nodes ([] when the BEAM side is unreachable). */
  partitions: number[];
  /** Partitions (groups) the page drew. */
  drawnGroups: number;
  beamSide: 'simulated' | 'unreachable';
  renderer: string;
  viewport: { width: number; height: number };
  /**
   * Data in (snapshot response end) → first frame with marks drawn, over several page loads: the
   * value is their median.
   */
  firstFrameMs: GoalFigure & {
    p95Ms: number | null;
    maxMs: number | null;
    /** Each load's figure, in order (the first load meets a server that just served nothing). */
    samplesMs: number[];
    loadAverage: number;
  };
  /**
   * Why there is no "frame time while the layout settles" any more: the page opens large meshes
   * on the adjacency view, painted once per model, and lays the graph above 300 marks out on a
   * grid by partition and name (`lib/fixed-layout.ts`): nothing settles. The figure measured
   * 0 frames (the settled mark is the first draw's) and read as a missed goal.
   */
  settle: string;
  /**
   * Frame time p95 while the page follows a split of the largest partition and its heal (from
   * each change until the page shows it, plus 2 s of deltas); null without simulated nodes.
   */
  updateFrameP95Ms:
    | (FrameFigure & {
        /** Each change → the page's partition count showing it. */
        followMs: number[];
        /** Tasks over 50 ms in the span (Long Tasks API): how many, their total and longest. */
        longTasks: LongTaskSummary;
      })
    | null;
  /** Why the update phase has no figure (the server did not show a change in time), if so. */
  updateError: string | null;
  /** The view the page opened on (`graph` before the adjacency view existed). */
  openedView: string;
  /** Frame time p95 during scripted wheel zoom and drag pan of the graph; null if not shown. */
  zoomPanFrameP95Ms:
    | (FrameFigure & {
        /** Tasks over 50 ms in the span (Long Tasks API): how many, their total and longest. */
        longTasks: LongTaskSummary;
      })
    | null;
  /** Why zoom and pan have no figure (the graph was not drawn in time), if so. */
  zoomPanError: string | null;
  /** JS heap of the page after a forced GC. */
  heap: { usedMB: number; totalMB: number };
  /** Snapshot response size and timing, for context. */
  snapshot: { bytes: number; responseEndMs: number };
  screenshot: string | null;
  profile: string | null;
  /** Push latency while every node is probed (bench/push-latency-scale.ts), with simulated nodes. */
  push: PushAtScaleResults | null;
  /** Why the push phase has no figures, if so. */
  pushError: string | null;
}

/** Options of {@link runBrowserScaleBench}. */
export interface BrowserScaleOptions {
  members?: number;
  /** Partition sizes (must add up to `members`); default 600/300/100 of 1,000. */
  partitions?: number[];
  /** Leave the BEAM side unreachable even when the simulated nodes are available. */
  noSim?: boolean;
  /** Where to save a screenshot of the settled graph; default /tmp/browser/graph-<members>.png. */
  screenshot?: string | null;
  /** Write a Chromium CPU profile (.cpuprofile) of the update phase (split and heal) here. */
  profile?: string | null;
  /** Write a Chromium CPU profile of the scripted zoom and pan of the graph here. */
  zoomProfile?: string | null;
  /** How many page loads the first-frame figure is the median of (default 5). */
  firstFrameLoads?: number;
  log?: (line: string) => void;
  /** Also measure push latency at this size (default: with simulated nodes). */
  push?: boolean;
  /** Measure against this running stack instead of starting one. */
  stack?: ScaleStack;
  /**
   * Run the emulated API in the simulated nodes' process, as this bench did before issue 16's
   * push work (default: a process of its own, as a kube-apiserver is).
   */
  sharedApi?: boolean;
}

const CLUSTER_ID = 'bench';
const SERVICE = 'myapp';
const CONTEXT = 'bench';
// Issue 16's goals for the browser at 1,000 members (at 2,000 the same figures are reported,
// without goals): first frame ≤ 500 ms, frame p95 while updating ≤ 16 ms, which is one 60 Hz
// frame. Headless Chromium runs requestAnimationFrame at 60 Hz: a delta is a whole number of
// vsync periods (16.67 ms), read through timestamps coarsened to 0.1 ms, so a page that never
// misses a frame measures 16.6–16.8 ms. The update figure is therefore counted in whole frames,
// goal one frame at p95; its p95 in milliseconds stays in the label. Zooming keeps 33 ms.
const GOAL_MEMBERS = 1000;
const FIRST_FRAME_GOAL_MS = 500;
const FRAME_P95_GOAL_MS = 33;
const VSYNC_PERIOD_MS = 1000 / 60;
const UPDATE_FRAME_P95_GOAL_FRAMES = 1;
/** A delta past one and a half 60 Hz frames is a frame the page missed. */
const MISSED_FRAME_MS = 25;
const VIEWPORT = { width: 1440, height: 1000 };

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

const round = (value: number | null, digits = 1) =>
  value === null ? null : roundTo(value, digits);

/** Installed before the page's scripts: a requestAnimationFrame clock that never stops. */
// Passed to the page as source text: tsx compiles a function with esbuild's keepNames, whose
// `__name(...)` helper calls do not exist in the page, and the recorder would throw there.
const frameRecorder = `
  (() => {
    const frames = [];
    window.__benchFrames = frames;
    // Tasks over 50 ms (start, duration): what made a frame late, for the report.
    const longTasks = [];
    window.__benchLongTasks = longTasks;
    try {
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) longTasks.push([entry.startTime, entry.duration]);
      }).observe({ type: 'longtask', buffered: true });
    } catch {}
    const tick = (time) => {
      frames.push(time);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })();
`;

/** The long tasks of a span, summed up. */
export interface LongTaskSummary {
  count: number;
  totalMs: number;
  maxMs: number | null;
}

function longTaskSummary(tasks: Array<[number, number]>, from: number, to: number) {
  const inside = tasks.filter(([start]) => start >= from && start <= to).map(([, ms]) => ms);
  return {
    count: inside.length,
    totalMs: Math.round(inside.reduce((sum, ms) => sum + ms, 0)),
    maxMs: inside.length ? Math.round(Math.max(...inside)) : null,
  };
}

/** Deltas between consecutive frames whose start lies in [from, to]. */
function frameDeltas(frames: number[], from: number, to: number): number[] {
  const deltas: number[] = [];
  for (let index = 1; index < frames.length; index += 1) {
    const previous = frames[index - 1]!;
    const current = frames[index]!;
    if (previous >= from && current <= to) deltas.push(current - previous);
  }
  return deltas;
}

const load = () => roundTo(loadavg()[0]!, 2);
const count = (value: number) => value.toLocaleString('en-US');
const ms = (value: number | null) => (value === null ? '—' : `${count(value)} ms`);

/**
 * Frame times of a span as a row of the table: `what` names the span; the p95 is the value, and
 * the row's label carries the median, p99, missed frames and the load average beside it.
 */
function frameFigure(
  what: string,
  deltas: number[],
  durationMs: number,
  loadAverage: number,
  goal: { ms: number } | { frames: number } | undefined,
): FrameFigure {
  const p95 = round(quantile(deltas, 0.95));
  const medianMs = round(quantile(deltas, 0.5));
  const p99Ms = round(quantile(deltas, 0.99));
  const missedFrames = deltas.filter((delta) => delta > MISSED_FRAME_MS).length;
  const spread = `median ${ms(medianMs)}, p99 ${ms(p99Ms)}; ${count(missedFrames)} frames over ${MISSED_FRAME_MS} ms; load ${loadAverage}`;
  const inFrames = goal !== undefined && 'frames' in goal;
  // In whole vsync periods: the p95 of each delta's count of frames (see VSYNC_PERIOD_MS).
  const p95Frames = quantile(
    deltas.map((delta) => Math.round(delta / VSYNC_PERIOD_MS)),
    0.95,
  );
  const value = inFrames ? p95Frames : p95;
  const goalValue = goal === undefined ? undefined : 'frames' in goal ? goal.frames : goal.ms;
  return {
    label: inFrames
      ? `${what}: frame time p95 in 60 Hz frames (${ms(p95)}; ${spread})`
      : `${what}: frame time p95 (${spread})`,
    value,
    ...(goalValue === undefined
      ? {}
      : { goal: goalValue, met: value !== null && value <= goalValue }),
    unit: inFrames ? ('frames' as const) : ('ms' as const),
    samples: deltas.length,
    medianMs,
    p99Ms,
    maxMs: round(deltas.length ? Math.max(...deltas) : null),
    durationMs: Math.round(durationMs),
    missedFrames,
    loadAverage,
  };
}

async function markTime(page: Page, name: string): Promise<number | null> {
  return page.evaluate(
    (mark) => performance.getEntriesByName(mark, 'mark')[0]?.startTime ?? null,
    name,
  );
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null | undefined | false>,
  detail?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `browser-scale: timed out waiting for ${what}${detail ? ` (${detail()})` : ''}`,
      );
    }
    await sleep(250);
  }
}

/** Scripted zoom (wheel in, then out) and pan (drags from empty corners) over the canvas. */
async function zoomAndPan(page: Page, rounds = 2): Promise<void> {
  const box = (await page.getByTestId('topology-canvas').boundingBox())!;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  for (let round = 0; round < rounds; round += 1) {
    await page.mouse.move(cx, cy);
    for (let step = 0; step < 12; step += 1) {
      await page.mouse.wheel(0, -120);
      await sleep(30);
    }
    // Pan the zoomed-in view around: from near a corner, where the fit leaves no mark.
    for (const [dx, dy] of [
      [260, 160],
      [-260, -160],
      [-200, 120],
    ] as const) {
      const startX = dx > 0 ? box.x + 12 : box.x + box.width - 12;
      const startY = dy > 0 ? box.y + 12 : box.y + box.height - 12;
      await page.mouse.move(startX, startY);
      await page.mouse.down();
      await page.mouse.move(startX + dx, startY + dy, { steps: 24 });
      await page.mouse.up();
    }
    await page.mouse.move(cx, cy);
    for (let step = 0; step < 12; step += 1) {
      await page.mouse.wheel(0, 120);
      await sleep(30);
    }
  }
}

/**
 * A screenshot for the eye, never a figure: a page too busy to be captured in a minute (as the
 * page before issue 16's delta work was at 1,000 members) loses the picture, not its figures.
 */
async function screenshot(page: Page, path: string, log: (line: string) => void): Promise<void> {
  await page.screenshot({ path, timeout: 60_000 }).catch((error: unknown) => {
    log(`browser-scale: no screenshot ${path}: ${error instanceof Error ? error.message : error}`);
  });
}

/**
 * The partitions the page's top bar counts. Read with the page's own `querySelector`: Playwright's
 * locators walk every element of the document in script (to pierce shadow roots), and polling
 * one four times a second over the page of 1,000 members was 1.9 s of the page's main thread in
 * a 23 s update phase, the largest item of its profile — the bench loading what it measures.
 */
async function shownPartitions(page: Page): Promise<number> {
  const text = await page.evaluate(
    () => document.querySelector('[data-testid="summary-partitions"]')?.textContent ?? '',
  );
  return Number(/(\d+)\s+partition/.exec(text)?.[1] ?? Number.NaN);
}

/** The marks the graph's canvas says it drew (its `data-nodes`), read as {@link shownPartitions}. */
async function drawnMarks(page: Page): Promise<number> {
  return page.evaluate(() =>
    Number(document.querySelector('[data-testid="topology-canvas"]')?.getAttribute('data-nodes')),
  );
}

/**
 * Splits the largest partition in halves and heals it again, timing each change until the page
 * shows it: the frames of the whole span are the "while updating" figure. Not a heal of every
 * partition: a whole mesh of 1,000 took the collector of 2026-12 past its 4 GB heap.
 */
async function splitAndHeal(page: Page, stack: ScaleStack, log: (line: string) => void) {
  const followMs: number[] = [];
  const start = await page.evaluate(() => performance.now());
  const [largest = 0, ...rest] = stack.partitions;
  const split = [Math.ceil(largest / 2), Math.floor(largest / 2), ...rest];
  for (const sizes of [split, stack.partitions]) {
    const changed = Date.now();
    await stack.repartition!(sizes);
    await waitFor(`the page to show ${sizes.length} partition(s)`, 180_000, async () =>
      (await shownPartitions(page)) === sizes.length ? true : null,
    );
    followMs.push(Date.now() - changed);
    log(`browser-scale: the page shows ${sizes.length} partition(s) ${followMs.at(-1)} ms later`);
    await sleep(2000);
  }
  const end = await page.evaluate(() => performance.now());
  return { start, end, followMs };
}

/** What a kubeconfig needs of an emulated API (in this process or the simulator's child). */
interface KubeApiAccess {
  url: string;
  token: string;
  namespace: string;
  caPem?: string;
}

function kubeconfigFor(api: KubeApiAccess): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CONTEXT,
        cluster: {
          server: api.url,
          'certificate-authority-data': Buffer.from(api.caPem!).toString('base64'),
        },
      },
    ],
    users: [{ name: CONTEXT, user: { token: api.token } }],
    contexts: [
      { name: CONTEXT, context: { cluster: CONTEXT, user: CONTEXT, namespace: api.namespace } },
    ],
    'current-context': CONTEXT,
  });
}

/** The compact snapshot as it arrives: its members packed, read through `expandState`. */
interface SnapshotShape {
  state: WireClusterState;
}

/** The emulated API, the BEAM side and the production server, with what the bench needs of them. */
export interface ScaleStack {
  url: string;
  /** The beamscope configuration the server runs with (another build can be started on it). */
  config: string;
  clusterId: string;
  members: number;
  partitions: number[];
  beamSide: 'simulated' | 'unreachable';
  /**
   * Splits the simulated nodes into partitions of these sizes, in address order (one size: a
   * whole mesh); absent without simulated nodes, or for a stack measured by URL.
   */
  repartition?(sizes: number[]): Promise<void>;
  /**
   * Stops the dashboard and serves this build (a standalone `server.js`) on the same cluster,
   * once it sees every member: before and after a change, measured against one cluster.
   */
  useServer?(serverJs: string): Promise<void>;
  /**
   * Toggles a pod's readiness in the emulated API (by its IP), resolving with when the emulator
   * wrote it and sent its watches the EndpointSlice change; absent without simulated nodes.
   */
  setPodReady?(ip: string, ready: boolean): Promise<PodReadyTiming | null>;
  /** The event-loop delay of the emulated API's process and of the nodes' since the last call. */
  processLoops?(): Promise<{ api: LoopDelay; nodes: LoopDelay }>;
  /**
   * The dashboard server's trace (bench/support/server-trace.cjs): a JSON line a second with its
   * event-loop delay and when its Kubernetes source emitted new members.
   */
  traceFile?: string;
  stop(): Promise<void>;
}

/**
 * Waits until the dashboard's snapshot shows every member (and, with simulated nodes, each one
 * connected, in `partitions` partitions when given); fails early if the server died.
 */
async function waitUntilSeen(
  dashboard: RunningDashboard,
  expect: { members: number; partitions: number | null; simulated?: boolean },
  log: (line: string) => void,
  options: { waitMs?: number } = {},
): Promise<void> {
  const simulated = expect.simulated ?? true;
  // Compact peer lists: the whole ones are N² names (18 MB at 1,000 nodes), and serialising them
  // four times a second was a load of the bench's own on the server it measures.
  const snapshotUrl = `${dashboard.url}/api/clusters/${CLUSTER_ID}?peers=compact`;
  const startedWait = Date.now();
  let seen = 'no snapshot';
  await waitFor(
    'the dashboard to see every member',
    // At 1,000 nodes the collector of 2026-12 needed over 5 minutes to connect them all on a
    // loaded 2-core machine: what is measured here is the page, once they are connected.
    options.waitMs ?? 900_000,
    async () => {
      if (/FATAL ERROR|out of memory/i.test(dashboard.output())) {
        throw new Error(
          `browser-scale: the dashboard server died:\n${dashboard.output().slice(-3000)}`,
        );
      }
      const response = await fetch(snapshotUrl).catch(() => null);
      if (!response?.ok) return null;
      const wire = (await response.json().catch(() => null)) as SnapshotShape | null;
      if (!wire) return null;
      const snapshot = { state: expandState(wire.state) };
      const connected = snapshot.state.members.filter(
        (member) => member.beam?.connection.status === 'connected',
      ).length;
      seen = `${snapshot.state.members.length} members, ${connected} connected, ${snapshot.state.partitions.length} partitions`;
      if (snapshot.state.members.length < expect.members) return null;
      if (!simulated) return true;
      return connected >= expect.members &&
        (expect.partitions === null || snapshot.state.partitions.length === expect.partitions)
        ? true
        : null;
    },
    () => seen,
  );
  log(`browser-scale: the server sees ${seen} (${Date.now() - startedWait} ms)`);
}

/**
 * Starts `members` Ready pods and their simulated nodes in partitions (or, `noSim`, the pods
 * alone) and the standalone dashboard, and waits until the server sees them all.
 */
export async function startScaleStack(
  options: Pick<BrowserScaleOptions, 'members' | 'partitions' | 'noSim' | 'log' | 'sharedApi'> & {
    /** How long the server may take to see every member (default 15 minutes). */
    waitMs?: number;
  } = {},
): Promise<ScaleStack> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const members = options.members ?? 1000;
  const simulated = !options.noSim;
  const sizes = simulated
    ? (options.partitions ?? [
        Math.round(members * 0.6),
        Math.round(members * 0.3),
        members - Math.round(members * 0.6) - Math.round(members * 0.3),
      ])
    : [];
  if (simulated && sizes.reduce((sum, size) => sum + size, 0) !== members) {
    throw new Error(`browser-scale: partitions ${sizes.join('/')} do not add up to ${members}`);
  }
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step().catch(() => undefined);
  };
  const dir = await mkdtemp(join(tmpdir(), 'beamscope-browser-bench-'));
  stops.push(() => rm(dir, { recursive: true, force: true }));
  try {
    const cookie = [...randomBytes(20)]
      .map((byte) => String.fromCharCode(65 + (byte % 26)))
      .join('');
    const distPort = await freePort();
    const startedPods = Date.now();
    let api: KubeApiAccess;
    let repartition: ScaleStack['repartition'];
    let setPodReady: ScaleStack['setPodReady'];
    let processLoops: ScaleStack['processLoops'];
    const sharedApi = options.sharedApi ?? false;
    if (simulated) {
      // Nodes and pods in a child process, so their CPU is not taken from the browser's driver.
      const addresses = simulatedAddresses(members, 12);
      const groups: string[][] = [];
      let offset = 0;
      for (const size of sizes) {
        groups.push(addresses.slice(offset, offset + size));
        offset += size;
      }
      const simOptions = {
        addresses,
        addressMap: simulatedAddressMap(12),
        port: distPort,
        cookie,
        basename: SERVICE,
        partitions: groups,
        // Registries whose hosted entries add up over the cluster, as in a real one: whole, they
        // settle; split, each side hosts a part of every copy, as after a real netsplit.
        settled: true,
      };
      const sim = await startSimulatedClusterProcess(
        sharedApi ? { ...simOptions, kubeApi: { tls: true } } : simOptions,
      );
      stops.push(() => sim.stop());
      // A kube-apiserver is a process of its own: in the nodes' process the emulator's share of a
      // push at 1,000 members was 51 / 495 ms (median / p99), alone 31 / 96 ms (issue 16).
      const apiSim = sharedApi
        ? sim
        : await startSimulatedClusterProcess({
            ...simOptions,
            kubeApi: { tls: true },
            apiOnly: true,
          });
      if (apiSim !== sim) stops.push(() => apiSim.stop());
      api = apiSim.api!;
      processLoops = async () => {
        // One process when shared: asked once (each call covers the span since the last).
        const apiStats = await apiSim.stats();
        const nodeStats = apiSim === sim ? apiStats : await sim.stats();
        const loop = (stats: typeof apiStats) => ({
          p99Ms: stats.loopDelayP99Ms,
          maxMs: stats.loopDelayMaxMs,
        });
        return { api: loop(apiStats), nodes: loop(nodeStats) };
      };
      repartition = async (split) => {
        const parts: string[][] = [];
        let start = 0;
        for (const size of split) {
          parts.push(addresses.slice(start, start + size));
          start += size;
        }
        await sim.setPartitions(parts);
      };
      setPodReady = (ip, ready) => apiSim.setPodReady(ip, ready);
      log(
        `browser-scale: ${sim.nodes.length} simulated nodes and pods in partitions ${sizes.join('/')}, the emulated API ${sharedApi ? "in the nodes' process" : 'in its own'} (${Date.now() - startedPods} ms)`,
      );
    } else {
      // The Kubernetes side alone: the Service's pods, Ready at once, nothing listening on them.
      const emulated = await startEmulatedApi({
        tls: true,
        readyDelayMs: 0,
        terminationGraceMs: 100,
      });
      stops.push(() => emulated.stop());
      await emulated.control.scale(members);
      await waitFor('the pods to be Ready', 120_000, async () =>
        emulated.control.pods().filter((pod) => pod.ready).length >= members ? true : null,
      );
      api = emulated;
      log(`browser-scale: ${members} pods Ready in ${Date.now() - startedPods} ms`);
    }

    await writeFile(join(dir, 'cookie'), cookie, { mode: 0o600 });
    await writeFile(join(dir, 'kubeconfig'), kubeconfigFor(api), { mode: 0o600 });
    await writeFile(
      join(dir, 'beamscope.yaml'),
      stringify({
        clusters: [
          {
            id: CLUSTER_ID,
            namespace: api.namespace,
            kubernetes: { kubeconfig: './kubeconfig', context: CONTEXT },
            discovery: { mode: 'endpointSlices', service: SERVICE },
            nodeNaming: { mode: 'ip', basename: SERVICE },
            distribution: {
              cookieFile: './cookie',
              port: distPort,
              // Pods are named 10.244.x.y; their nodes (if any) listen on a loopback image.
              addressMap: simulated ? simulatedAddressMap(12) : [LOOPBACK_MAPPING],
            },
          },
        ],
      }),
    );

    const traceFile = join(dir, 'server-trace.jsonl');
    const traceEnv = {
      NODE_OPTIONS: [
        process.env.NODE_OPTIONS,
        process.env.BEAMSCOPE_BENCH_SERVER_NODE_OPTIONS,
        `--import=${SERVER_TRACE}`,
      ]
        .filter(Boolean)
        .join(' '),
      BEAMSCOPE_BENCH_TRACE: traceFile,
    };
    let dashboard: RunningDashboard = await startDashboard(
      join(dir, 'beamscope.yaml'),
      undefined,
      traceEnv,
    );
    stops.push(() => dashboard.stop());
    await waitUntilSeen(
      dashboard,
      { members, partitions: simulated ? sizes.length : null, simulated },
      log,
      { waitMs: options.waitMs },
    );

    const stack: ScaleStack = {
      url: dashboard.url,
      config: join(dir, 'beamscope.yaml'),
      clusterId: CLUSTER_ID,
      members,
      partitions: sizes,
      beamSide: simulated ? 'simulated' : 'unreachable',
      ...(repartition ? { repartition, setPodReady, processLoops } : {}),
      traceFile,
      async useServer(serverJs) {
        await dashboard.stop();
        const previous = process.env.BEAMSCOPE_SERVER_JS;
        process.env.BEAMSCOPE_SERVER_JS = serverJs;
        try {
          dashboard = await startDashboard(join(dir, 'beamscope.yaml'), undefined, traceEnv);
        } finally {
          if (previous === undefined) delete process.env.BEAMSCOPE_SERVER_JS;
          else process.env.BEAMSCOPE_SERVER_JS = previous;
        }
        stack.url = dashboard.url;
        // The partitions as they are now (a bench may have split them).
        await waitUntilSeen(dashboard, { members, partitions: null, simulated }, log, {
          waitMs: options.waitMs,
        });
      },
      stop,
    };
    return stack;
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The same at 2,000 members (issue 16: "reports the same figures at 2,000"), as its own part of
 * `bench/run.ts`, the push phase included; the goals are set at 1,000 and not applied here.
 */
export function runBrowserScaleBench2000(
  options: BrowserScaleOptions = {},
): Promise<BrowserScaleResults> {
  return runBrowserScaleBench({ members: 2000, ...options });
}

/** Runs the benchmark once; see the file's comment. */
export async function runBrowserScaleBench(
  options: BrowserScaleOptions = {},
): Promise<BrowserScaleResults> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const members = options.members ?? 1000;
  const goalsApply = members === GOAL_MEMBERS;
  const screenshotPath =
    options.screenshot === undefined ? `/tmp/browser/graph-${members}.png` : options.screenshot;
  const stack = options.stack ?? (await startScaleStack(options));
  // A stack handed in belongs to the caller (it may measure several builds against one cluster).
  const stops: Array<() => Promise<void>> = options.stack ? [] : [() => stack.stop()];
  const sizes = stack.partitions;
  const startSim = stack.beamSide === 'simulated';
  try {
    const { browser, close } = await launchChromium();
    stops.push(close);
    const page = await browser.newPage({ viewport: VIEWPORT });
    page.on('crash', () => log('browser-scale: the page crashed'));
    browser.on('disconnected', () => log('browser-scale: Chromium went away'));
    await page.addInitScript({ content: frameRecorder });
    const cdp: CDPSession = await page.context().newCDPSession(page);

    const loadAtStart = load();
    // One page load: data in → first drawn frame. Loaded several times (a reload starts the
    // page afresh, its frame recorder too), the last load being the page measured below.
    const loadOnce = async (first: boolean) => {
      if (first) await page.goto(`${stack.url}/clusters/${CLUSTER_ID}`, { timeout: 180_000 });
      else await page.reload({ timeout: 180_000 });
      // The graph, or (above its threshold) the adjacency view, whichever the page opens on,
      // marks its first draw; asked every 250 ms (a locator would poll in the page every frame).
      const firstDraw = await waitFor('the first drawn frame', 180_000, () =>
        markTime(page, 'beamscope:graph-first-draw'),
      );
      const timing = await page.evaluate((path) => {
        const entry = performance
          .getEntriesByType('resource')
          .find((candidate) => new URL(candidate.name).pathname === path) as
          PerformanceResourceTiming | undefined;
        return entry ? { responseEnd: entry.responseEnd, bytes: entry.encodedBodySize } : null;
      }, `/api/clusters/${CLUSTER_ID}`);
      if (!timing) throw new Error('browser-scale: no timing for the snapshot request');
      log(
        `browser-scale: first frame ${Math.round(firstDraw - timing.responseEnd)} ms after the snapshot arrived`,
      );
      return { firstFrame: firstDraw - timing.responseEnd, snapshotTiming: timing };
    };
    const loads = Math.max(1, options.firstFrameLoads ?? 5);
    const firstFrames: number[] = [];
    let snapshotTiming = { responseEnd: 0, bytes: 0 };
    for (let index = 0; index < loads; index += 1) {
      const measured = await loadOnce(index === 0);
      firstFrames.push(Math.round(measured.firstFrame));
      snapshotTiming = measured.snapshotTiming;
      // Let the page's deferred panels and the stream's first deltas in before the next load.
      await sleep(1500);
    }
    const loadAfterFirstFrames = load();
    const openedView =
      (await page
        .getByTestId('mesh-view')
        .getAttribute('data-view', { timeout: 2000 })
        .catch(() => null)) ?? 'graph';
    log(`browser-scale: ${openedView} view in the page`);
    const firstFrameMedian = quantile(firstFrames, 0.5)!;
    const firstFrameP95 = quantile(firstFrames, 0.95);
    if (screenshotPath) {
      await mkdir(join(screenshotPath, '..'), { recursive: true });
      await screenshot(page, screenshotPath, log);
    }
    // The update phase waits on the collector to see each change; when it does not in time, the
    // page's other figures still stand, and the reason is reported beside them.
    let updateError: string | null = null;
    if (options.profile) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    const update =
      stack.repartition && sizes.length > 0
        ? await splitAndHeal(page, stack, log).catch((error: unknown) => {
            updateError = error instanceof Error ? error.message : String(error);
            log(updateError);
            return null;
          })
        : null;
    const loadAfterUpdate = load();
    let profilePath: string | null = null;
    if (options.profile) {
      const { profile } = (await cdp.send('Profiler.stop')) as { profile: unknown };
      await mkdir(join(options.profile, '..'), { recursive: true });
      await writeFile(options.profile, JSON.stringify(profile));
      profilePath = options.profile;
    }

    // The profile of the zoom phase covers the switch to the graph too.
    if (options.zoomProfile) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    // Zoom and pan are the graph's. A page that cannot show the graph in time loses this
    // figure, not the ones measured before it (at 2,000 members the graph view saturated it).
    let zoomPanError: string | null = null;
    let drawnGroups = Number.NaN;
    const zoomed = await (async () => {
      if (openedView !== 'graph') {
        // Switch to it (the adjacency view is not zoomed).
        await page.getByTestId('mesh-view-graph').click({ timeout: 60_000 });
        await waitFor('the graph to draw every member', 60_000, async () =>
          (await drawnMarks(page)) === members ? true : null,
        );
        await sleep(1000);
        if (screenshotPath)
          await screenshot(page, screenshotPath.replace(/\.png$/, '-graph.png'), log);
      }
      drawnGroups = await page.evaluate(() =>
        Number(document.querySelector('[data-testid="topology"]')?.getAttribute('data-partitions')),
      );
      const drawnNodes = await drawnMarks(page);
      if (drawnNodes !== members) {
        throw new Error(`browser-scale: the canvas drew ${drawnNodes} marks, not ${members}`);
      }
      const start = await page.evaluate(() => performance.now());
      await zoomAndPan(page);
      const end = await page.evaluate(() => performance.now());
      return { start, end, load: load() };
    })().catch((error: unknown) => {
      zoomPanError = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      log(`browser-scale: zoom and pan: ${zoomPanError}`);
      return null;
    });
    if (options.zoomProfile) {
      const { profile } = (await cdp.send('Profiler.stop')) as { profile: unknown };
      await mkdir(join(options.zoomProfile, '..'), { recursive: true });
      await writeFile(options.zoomProfile, JSON.stringify(profile));
    }

    const { frames, longTasks } = await page.evaluate(() => {
      const recorded = window as unknown as {
        __benchFrames: number[];
        __benchLongTasks: Array<[number, number]>;
      };
      return { frames: recorded.__benchFrames, longTasks: recorded.__benchLongTasks };
    });
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = (await cdp.send('Runtime.getHeapUsage')) as {
      usedSize: number;
      totalSize: number;
    };

    // Push latency with a page of its own: this one (switched to the graph) is closed first.
    await page.close();
    let push: PushAtScaleResults | null = null;
    let pushError: string | null = null;
    if ((options.push ?? true) && stack.setPodReady) {
      push = await measurePushAtScale({ stack, log }).catch((error: unknown) => {
        pushError = error instanceof Error ? error.message : String(error);
        log(`browser-scale: push latency: ${pushError}`);
        return null;
      });
    }

    const zoomDeltas = zoomed ? frameDeltas(frames, zoomed.start, zoomed.end) : [];
    const updateDeltas = update ? frameDeltas(frames, update.start, update.end) : [];
    const size = `${count(members)} members`;
    return {
      members,
      loadAverage: loadAtStart,
      partitions: sizes,
      drawnGroups,
      beamSide: startSim ? 'simulated' : 'unreachable',
      renderer:
        'headless Chromium (/usr/bin/chromium) with --disable-gpu: canvas rasterised in software',
      viewport: VIEWPORT,
      firstFrameMs: {
        label: `first frame after the data, ${size} (${openedView} view): median of ${loads} page loads (p95 ${ms(firstFrameP95)}; load ${loadAfterFirstFrames})`,
        value: Math.round(firstFrameMedian),
        ...(goalsApply
          ? { goal: FIRST_FRAME_GOAL_MS, met: firstFrameMedian <= FIRST_FRAME_GOAL_MS }
          : {}),
        unit: 'ms',
        samples: firstFrames.length,
        p95Ms: firstFrameP95,
        maxMs: Math.max(...firstFrames),
        samplesMs: firstFrames,
        loadAverage: loadAfterFirstFrames,
      },
      settle:
        'not measured: large meshes open on the adjacency view (painted once per model) and the graph above 300 marks is laid out on a grid (lib/fixed-layout.ts); nothing settles',
      updateFrameP95Ms: update
        ? {
            ...frameFigure(
              `following a split and a heal, ${size}`,
              updateDeltas,
              update.end - update.start,
              loadAfterUpdate,
              goalsApply ? { frames: UPDATE_FRAME_P95_GOAL_FRAMES } : undefined,
            ),
            followMs: update.followMs,
            longTasks: longTaskSummary(longTasks, update.start, update.end),
          }
        : null,
      updateError,
      openedView,
      zoomPanFrameP95Ms: zoomed
        ? {
            ...frameFigure(
              `zoom and pan of the graph, ${size}`,
              zoomDeltas,
              zoomed.end - zoomed.start,
              zoomed.load,
              goalsApply ? { ms: FRAME_P95_GOAL_MS } : undefined,
            ),
            longTasks: longTaskSummary(longTasks, zoomed.start, zoomed.end),
          }
        : null,
      zoomPanError,
      heap: {
        usedMB: Math.round((heap.usedSize / 1024 / 1024) * 10) / 10,
        totalMB: Math.round((heap.totalSize / 1024 / 1024) * 10) / 10,
      },
      snapshot: {
        bytes: snapshotTiming.bytes,
        responseEndMs: Math.round(snapshotTiming.responseEnd),
      },
      screenshot: screenshotPath,
      profile: profilePath,
      push,
      pushError,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      members: { type: 'string' },
      partitions: { type: 'string' },
      'no-sim': { type: 'boolean' },
      profile: { type: 'string' },
      'zoom-profile': { type: 'string' },
      // Leave out the push phase (bench/push-latency-scale.ts): the page's figures alone.
      'no-push': { type: 'boolean' },
      // How many page loads the first frame's median is taken over (default 5).
      loads: { type: 'string' },
      screenshot: { type: 'string' },
      // Start the cluster and the server only, print the dashboard's address, run until a signal.
      serve: { type: 'boolean' },
      // Measure a dashboard already serving the stack of a --serve run (another build, say).
      url: { type: 'string' },
      // The push phase alone (bench/push-latency-scale.ts) on a stack of its own.
      'push-only': { type: 'boolean' },
      // The emulated API in the simulated nodes' process, as before issue 16's push work.
      'shared-api': { type: 'boolean' },
      // With --push-only: a CPU profile of the dashboard server over the readiness changes.
      'server-profile': { type: 'string' },
      // With --push-only: a CPU profile of the page (Chromium's renderer) over the same changes.
      'page-profile': { type: 'string' },
      // With --push-only: a Chromium trace of the page over the same changes (Paint, Layout, GC).
      'page-trace': { type: 'string' },
    },
  });
  const options: BrowserScaleOptions = {
    members: countFlag('members', values.members, 1000),
    partitions: values.partitions?.split(',').map(Number),
    noSim: values['no-sim'],
    profile: values.profile ?? null,
    zoomProfile: values['zoom-profile'] ?? null,
    push: values['no-push'] ? false : undefined,
    firstFrameLoads: countFlag('loads', values.loads, 5),
    screenshot: values.screenshot,
    sharedApi: values['shared-api'],
  };
  if (values['push-only']) {
    const stack = await startScaleStack(options);
    try {
      const push = await measurePushAtScale({
        stack,
        serverProfile: values['server-profile'],
        pageProfile: values['page-profile'],
        pageTrace: values['page-trace'],
      });
      process.stdout.write(`${JSON.stringify(push, null, 2)}\n`);
    } finally {
      await stack.stop();
    }
  } else if (values.serve) {
    const stack = await startScaleStack(options);
    process.stdout.write(`${JSON.stringify({ url: stack.url, config: stack.config })}\n`);
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    await stack.stop();
  } else {
    const members = options.members ?? 1000;
    const results = await runBrowserScaleBench({
      ...options,
      ...(values.url
        ? {
            stack: {
              url: values.url,
              config: '',
              clusterId: CLUSTER_ID,
              members,
              partitions: options.partitions ?? [],
              beamSide: options.noSim ? 'unreachable' : 'simulated',
              stop: async () => {},
            },
          }
        : {}),
    });
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  }
  // The emulator's pod timers would keep an idle process alive.
  process.exit(0);
}
