/**
 * The flight recorder's cost (issue 17): a cluster with the demo's churn recorded for a simulated
 * day at 100 nodes and a simulated hour at 1,000, through the real recorder into a store — the
 * SQLite store when this checkout has it (`server/history/sqlite.ts`), else the memory store
 * (then the bytes are the rows' JSON, not a file). The store is a parameter: the lead reruns it
 * with each store. Figures: bytes per day, seek to any T (the `?at=` work: keyframe + deltas +
 * rebuild + the events before it) p99, the recorder's CPU as a share of one core over the
 * simulated span, and the live push's p99 with recording on vs off, in alternating real-time
 * segments of the same run.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { deflateRawSync } from 'node:zlib';

import { diffTimeline } from '@/lib/cluster-diff';
import { MeshBuilder } from '@/lib/mesh';
import type { CollectorMessage } from '@/server/collector/event-stream';
import { MemoryHistoryStore } from '@/server/history/memory';
import { rebuildStateAt } from '@/server/history/rebuild';
import { HistoryRecorder, type RecordedCollector } from '@/server/history/recorder';
import type { HistoryBatch, HistoryStore } from '@/server/history/store';
import { COMPACT_EVERY_MS } from '@/server/history/supervised';

import { SimClock, SimCollector } from '../test/support/sim-collector';
import { goalFigure, plainFigure, type Figure } from './support/figures';
import { pushLatency } from './history-push';
import { ChurningCluster, POLL_MS, STEP_MS } from './support/history-sim';
import { summarize } from './support/stats';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const SEEKS = 200;

/** A store to record into, in `dir`, and how many bytes it holds there. */
export interface BenchStore {
  kind: string;
  open(dir: string): Promise<HistoryStore>;
  bytes(dir: string, store: HistoryStore): Promise<number>;
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  return total;
}

/** The SQLite store when this checkout has it, else the memory store with its rows' JSON size. */
async function defaultStore(): Promise<BenchStore> {
  try {
    const specifier = '../server/history/sqlite';
    const { SqliteHistoryStore } = (await import(specifier)) as {
      SqliteHistoryStore: new (options: { directory: string }) => HistoryStore;
    };
    return {
      kind: 'sqlite',
      async open(dir) {
        const store = new SqliteHistoryStore({ directory: dir });
        await store.open();
        return store;
      },
      bytes: async (dir, store) => {
        await store.close();
        return folderBytes(dir);
      },
    };
  } catch {
    const written = new WeakMap<HistoryStore, number>();
    return {
      kind: 'memory (bytes: the rows as JSON)',
      async open() {
        const store = new MemoryHistoryStore();
        const append = store.append.bind(store);
        written.set(store, 0);
        store.append = async (batch: HistoryBatch) => {
          written.set(store, written.get(store)! + JSON.stringify(batch).length);
          return append(batch);
        };
        return store;
      },
      bytes: async (_dir, store) => written.get(store) ?? 0,
    };
  }
}

/**
 * The PostgreSQL store on a real PostgreSQL started for the bench (Debian's package, as the
 * tests start it), a database per recording. Bytes: the beamscope tables with their indexes
 * and TOAST after a `VACUUM FULL`: the live rows. Without it the figure is mostly dead rows —
 * compaction rewrites the current hour's blocks every simulated minute, the simulation runs an
 * hour in seconds, and autovacuum runs on wall time — so it would say how far autovacuum lags,
 * not what a day of history weighs.
 */
export async function postgresBenchStore(): Promise<BenchStore & { stop(): Promise<void> }> {
  const { startPostgres } = await import('../test/support/postgres');
  const { PostgresHistoryStore } = await import('@/server/history/postgres');
  const server = await startPostgres();
  let databases = 0;
  const urls = new WeakMap<HistoryStore, string>();
  return {
    kind: 'postgres',
    async open() {
      const url = await server.createDatabase(`bench_${++databases}`);
      const store = new PostgresHistoryStore({ connectionString: url });
      await store.open();
      urls.set(store, url);
      return store;
    },
    async bytes(_dir, store) {
      await store.close();
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: urls.get(store)! });
      await client.connect();
      try {
        await client.query('VACUUM FULL');
        const { rows } = await client.query<{ bytes: string }>(
          `SELECT coalesce(sum(pg_total_relation_size(oid)), 0) AS bytes FROM pg_class
           WHERE relkind = 'r' AND relname LIKE 'beamscope_%'`,
        );
        return Number(rows[0]!.bytes);
      } finally {
        await client.end();
      }
    },
    stop: () => server.stop(),
  };
}

/** The collector with the recorder's listeners timed: the CPU the recorder spends inline. */
function timed(collector: SimCollector, spent: { cpuUs: number }): RecordedCollector {
  const time =
    <A extends unknown[]>(listener: (...args: A) => void) =>
    (...args: A) => {
      const before = process.cpuUsage();
      listener(...args);
      const used = process.cpuUsage(before);
      spent.cpuUs += used.user + used.system;
    };
  return {
    clusterId: collector.clusterId,
    get epoch() {
      return collector.epoch;
    },
    subscribe: (listener: (message: CollectorMessage) => void) =>
      collector.subscribe(time(listener)),
    snapshot: () => collector.snapshot(),
    onHistoryPoint: (listener) => collector.onHistoryPoint(time(listener)),
    publishEvent: (draft) => collector.publishEvent(draft),
  };
}

interface RecordingResult {
  store: string;
  nodes: number;
  simulatedHours: number;
  deltas: number;
  events: number;
  keyframes: number;
  /** The rows' JSON by kind, and the deltas' JSON deflated (what a compressing store would keep). */
  payloadMB: {
    deltas: number;
    keyframes: number;
    points: number;
    events: number;
    deltasDeflated: number;
  };
  bytesPerDayMB: Figure;
  seek: Figure;
  seekMedianMs: number | null;
  recorderCpuPercentOfCore: Figure;
  simulationWallS: number;
}

/** Records `nodes` with the demo's churn for `spanMs` of simulated time. */
async function recordSpan(
  storeKind: BenchStore,
  nodes: number,
  spanMs: number,
  log: (line: string) => void,
): Promise<RecordingResult> {
  const dir = await mkdtemp(join(tmpdir(), 'beamscope-bench-history-'));
  try {
    const store = await storeKind.open(dir);
    const clock = new SimClock(Date.UTC(2026, 0, 1));
    const cluster = new ChurningCluster(nodes);
    const meshes = new MeshBuilder();
    const collector = new SimCollector('bench', cluster.state(clock.now()), clock);
    const spent = { cpuUs: 0 };
    const payload = { deltas: 0, keyframes: 0, points: 0, events: 0, deltasDeflated: 0 };
    const counts = { deltas: 0, events: 0, keyframes: 0 };
    const append = store.append.bind(store);
    store.append = async (batch) => {
      counts.deltas += batch.deltas.length;
      counts.events += batch.events.length;
      counts.keyframes += batch.keyframes.length;
      // Sizes measured outside the recorder's CPU (they are the bench's, not the product's).
      const before = process.cpuUsage();
      await append(batch);
      const used = process.cpuUsage(before);
      spent.cpuUs += used.user + used.system;
      const deltas = JSON.stringify(batch.deltas);
      payload.deltas += deltas.length;
      payload.deltasDeflated += deflateRawSync(deltas).length;
      payload.keyframes += JSON.stringify(batch.keyframes).length;
      payload.points += JSON.stringify(batch.points).length;
      payload.events += JSON.stringify(batch.events).length;
    };
    const recorder = new HistoryRecorder({
      collector: timed(collector, spent),
      store,
      holder: 'bench',
      now: clock.now,
      flushIntervalMs: 0,
    }).start();
    const start = clock.now();
    const wallStart = performance.now();
    let nextFlush = start + 1000;
    let nextStep = start + STEP_MS;
    let nextHour = start + HOUR_MS;
    let nextCompaction = start + COMPACT_EVERY_MS;
    for (let at = start + POLL_MS; at <= start + spanMs; at += POLL_MS) {
      clock.current = at;
      cluster.poll();
      if (at >= nextStep) {
        cluster.advanceScenario();
        nextStep += STEP_MS;
      }
      const previous = collector.current;
      const next = cluster.state(at);
      collector.set(
        next,
        diffTimeline(previous, next, meshes).map(({ event }) => event),
      );
      for (const { node, ...point } of cluster.points(at))
        collector.point(node, { ...point, registeredNames: 3 });
      if (at >= nextFlush) {
        const before = process.cpuUsage();
        await recorder.flush();
        const used = process.cpuUsage(before);
        spent.cpuUs += used.user + used.system;
        nextFlush = at + 1000;
      }
      if (at >= nextCompaction) {
        // Retention, downsampling and the points' move into blocks, as the store's supervisor
        // runs them (every minute): part of what recording costs.
        const before = process.cpuUsage();
        await store.compact(at - 7 * DAY_MS, at);
        const used = process.cpuUsage(before);
        spent.cpuUs += used.user + used.system;
        nextCompaction += COMPACT_EVERY_MS;
      }
      if (at >= nextHour) {
        nextHour += HOUR_MS;
        log(
          `${nodes} nodes: ${Math.round((at - start) / HOUR_MS)} h simulated, heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB`,
        );
      }
    }
    await recorder.stop();
    const end = clock.now();
    const simulationWallS = (performance.now() - wallStart) / 1000;

    // Seeks: the work of `?at=T` at random moments of the recorded span.
    const seekMs: number[] = [];
    for (let index = 0; index < SEEKS; index += 1) {
      const at = start + Math.floor((((index * 7919) % SEEKS) / SEEKS) * (end - start));
      const began = performance.now();
      const stored = await store.stateAt('bench', at);
      if (!stored) throw new Error(`no recorded state at ${new Date(at).toISOString()}`);
      rebuildStateAt(stored.keyframe, stored.deltas);
      await store.timeline('bench', { to: at, limit: 200 });
      seekMs.push(performance.now() - began);
    }
    const bytes = await storeKind.bytes(dir, store);
    const perDay = (bytes / 1e6) * (DAY_MS / spanMs);
    const seek = summarize(seekMs);
    const mb = (value: number) => Math.round((value / 1e6) * 10) / 10;
    return {
      store: storeKind.kind,
      nodes,
      simulatedHours: spanMs / HOUR_MS,
      ...counts,
      payloadMB: {
        deltas: mb(payload.deltas),
        keyframes: mb(payload.keyframes),
        points: mb(payload.points),
        events: mb(payload.events),
        deltasDeflated: mb(payload.deltasDeflated),
      },
      // The goal is the 100-node day's (issue 17); the 1,000-node hour reports the same figure
      // without one.
      bytesPerDayMB:
        nodes === 100
          ? goalFigure(`${nodes} nodes: bytes per day`, Math.round(perDay * 10) / 10, 50, 'MB')
          : plainFigure(`${nodes} nodes: bytes per day`, Math.round(perDay * 10) / 10, 'MB'),
      seek: goalFigure(`${nodes} nodes: seek to any T, p99`, seek.p99Ms, 300, 'ms', seek.samples),
      seekMedianMs: seek.medianMs,
      recorderCpuPercentOfCore: goalFigure(
        `${nodes} nodes: recording CPU`,
        Math.round((spent.cpuUs / 1000 / spanMs) * 100 * 1000) / 1000,
        5,
        '% of a core',
      ),
      simulationWallS: Math.round(simulationWallS),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface HistoryBenchOptions {
  log: (line: string) => void;
  /** The store to record into (default: SQLite when present, else memory). */
  store?: BenchStore;
  /** Simulated spans (default: a day at 100 nodes, an hour at 1,000). */
  hundredMs?: number;
  thousandMs?: number;
  liveSegmentMs?: number;
  /** Off/on pairs of live segments (default 12). */
  livePairs?: number;
}

export async function runHistoryBench(options: HistoryBenchOptions) {
  const store = options.store ?? (await defaultStore());
  const log = options.log;
  log(`store: ${store.kind}`);
  const loadBefore = loadavg()[0];
  const live = await pushLatency(store, {
    log,
    ...(options.liveSegmentMs === undefined ? {} : { segmentMs: options.liveSegmentMs }),
    ...(options.livePairs === undefined ? {} : { pairs: options.livePairs }),
  });
  const hundred = await recordSpan(store, 100, options.hundredMs ?? DAY_MS, log);
  const thousand = await recordSpan(store, 1000, options.thousandMs ?? HOUR_MS, log);
  return {
    store: store.kind,
    loadAverage: { before: loadBefore, after: loadavg()[0] },
    hundred,
    thousand,
    live,
  };
}

// `npx tsx bench/history.ts [hours at 100] [hours at 1000] [sqlite|postgres]`: this part alone,
// with its figures.
if (import.meta.url === `file://${process.argv[1]}`) {
  const hours = (text: string | undefined, fallback: number) =>
    text === undefined ? fallback : Number(text) * HOUR_MS;
  void (async () => {
    const postgres = process.argv[4] === 'postgres' ? await postgresBenchStore() : null;
    try {
      const result = await runHistoryBench({
        log: (line) => process.stderr.write(`${line}\n`),
        hundredMs: hours(process.argv[2], DAY_MS),
        thousandMs: hours(process.argv[3], HOUR_MS),
        ...(postgres ? { store: postgres } : {}),
      });
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } finally {
      await postgres?.stop();
    }
  })();
}
