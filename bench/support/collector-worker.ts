/**
 * The collector, measured: the worker process bench/probe-scale.ts forks per size. It loads the
 * collector's modules, starts it against the configuration it is sent, waits for the first full
 * state, measures whole poll intervals and sends back what it measured (see
 * {@link WorkerResult}). Its own entry, so that it can be compiled as the production build
 * compiles the collector (bench/support/bundled.ts) and run by plain Node.js: what ships, without
 * tsx in the process.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';

import type { ClusterState } from '../../lib/cluster-state';
import type { Term } from '../../server/erlang/codec/terms';
import { describeError } from '../../server/errors';
import { distribution, quantile, type Distribution } from './stats';

/** A quiet gap this long between probe calls separates two cycles. */
const CYCLE_GAP_MS = 150;

export interface WorkerRequest {
  configFile: string;
  localName: string;
  expected: number;
  cycles: number;
  intervalMs: number;
}

export interface WorkerResult {
  baselineRssBytes: number;
  modulesRssBytes: number;
  modulesHeapBytes: number;
  modulesExternalBytes: number;
  heapTotalBytes: number;
  rssFileBytes: number | null;
  liveHeapBytes: number;
  /**
   * V8's heap by space at the end of the measured cycles: what each space had reserved and used
   * then, and what it still used after the full collection (the young generation's semi-spaces
   * are reserved whole whatever they hold; the old space grows with the garbage between major
   * collections).
   */
  heapSpaces: HeapSpace[];
  externalBytes: number;
  cycles: number[];
  cyclesToState: number[];
  overrun: boolean;
  callsPerCycle: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** The highest RSS sampled from the collector's start to its first full state. */
  startPeakRssBytes: number;
  cpuPercentOfCore: number;
  cpuMsPerCycle: number;
  firstFullStateMs: number;
  start: StartTimes;
}

/** One V8 heap space (`v8.getHeapSpaceStatistics()`), bytes. */
export interface HeapSpace {
  space: string;
  /** Reserved (`space_size`) and resident (`physical_space_size`) at the end of the cycles. */
  sizeBytes: number;
  physicalBytes: number;
  usedBytes: number;
  /** Used after the full collection that follows. */
  liveBytes: number;
}

/** The start's stages, ms from starting the collector (`null`: not reached). */
export interface StartTimes {
  /** Kubernetes listed every pod (the members known). */
  listedMs: number | null;
  /** Half, and every one, of the nodes connected (handshake done). */
  halfConnectedMs: number | null;
  connectedMs: number | null;
  /** Half, and every one, of the nodes probed once (a history point recorded). */
  halfProbedMs: number | null;
  probedMs: number | null;
  /** The first published state with every node connected and probed: the first full state. */
  publishedMs: number;
  /**
   * The collector's CPU (user and system, its collections' threads included) from its start to
   * that state, to read beside the start's length: over 1,000-node starts of 2.0-3.2 s it was
   * 1.2-1.3 times the length, the collector busy throughout however long the start took.
   */
  cpuMs: number;
  /** One connection attempt (TCP connect and handshake) while they queue for their slots. */
  handshakeMs: Distribution;
  /** The simulated nodes' event-loop delay from the collector's start to its first full state. */
  nodesLoopDelayMs?: { p99: number; max: number };
}

/** Marks when the start reaches each stage (see {@link StartTimes}). */
class StartStages {
  private readonly connectedNodes = new Set<string>();
  private readonly probedNodes = new Set<string>();
  private readonly times: Omit<
    StartTimes,
    'publishedMs' | 'cpuMs' | 'handshakeMs' | 'nodesLoopDelayMs'
  > & {
    publishedMs: number | null;
  } = {
    listedMs: null,
    halfConnectedMs: null,
    connectedMs: null,
    halfProbedMs: null,
    probedMs: null,
    publishedMs: null,
  };

  private readonly cpuAtStart = process.cpuUsage();
  private cpuMs: number | null = null;

  constructor(
    private readonly expected: number,
    private readonly started: number,
  ) {}

  listed(members: number): void {
    if (members >= this.expected) this.times.listedMs ??= this.elapsed();
  }

  connected(node: string): void {
    this.connectedNodes.add(node);
    this.reached(this.connectedNodes.size, 'halfConnectedMs', 'connectedMs');
  }

  probed(node: string): void {
    this.probedNodes.add(node);
    this.reached(this.probedNodes.size, 'halfProbedMs', 'probedMs');
  }

  publishedState(state: ClusterState): void {
    let ready = 0;
    for (const member of state.members) {
      const beam = member.beam;
      if (beam?.connection.status === 'connected' && beam.probedAt !== null) ready += 1;
    }
    if (ready >= this.expected && this.times.publishedMs === null) {
      this.times.publishedMs = this.elapsed();
      const cpu = process.cpuUsage(this.cpuAtStart);
      this.cpuMs = (cpu.user + cpu.system) / 1000;
    }
  }

  done(): boolean {
    return this.times.publishedMs !== null;
  }

  result(): Omit<StartTimes, 'handshakeMs' | 'nodesLoopDelayMs'> {
    const round = (ms: number | null) => (ms === null ? null : Math.round(ms));
    return {
      listedMs: round(this.times.listedMs),
      halfConnectedMs: round(this.times.halfConnectedMs),
      connectedMs: round(this.times.connectedMs),
      halfProbedMs: round(this.times.halfProbedMs),
      probedMs: round(this.times.probedMs),
      publishedMs: Math.round(this.times.publishedMs ?? Number.NaN),
      cpuMs: Math.round(this.cpuMs ?? Number.NaN),
    };
  }

  private reached(
    count: number,
    half: 'halfConnectedMs' | 'halfProbedMs',
    all: 'connectedMs' | 'probedMs',
  ) {
    if (count >= this.expected / 2) this.times[half] ??= this.elapsed();
    if (count >= this.expected) this.times[all] ??= this.elapsed();
  }

  private elapsed(): number {
    return performance.now() - this.started;
  }
}

/** What the worker tells the harness: when the collector starts and has its first full state. */
export interface WorkerMessage {
  result?: WorkerResult;
  error?: string;
  starting?: true;
  started?: true;
}

interface Segment {
  start: number;
  end: number;
  calls: number;
}

/**
 * The calls inside a batch (`lists:zipwith3(fun erlang:apply/3, Ms, Fs, As)`, see `batchProbe`):
 * each element's module, function and arguments (each argument list encoded once, read back
 * from its `PreEncoded.term`).
 */
function batchElements(args: Term[]): Array<{ module: string; fn: string; args: Term[] }> {
  const [, modules, fns, argLists] = args;
  if (!Array.isArray(modules) || !Array.isArray(fns) || !Array.isArray(argLists)) return [];
  return modules.map((module, index) => {
    const encoded = argLists[index];
    const inner = encoded && typeof encoded === 'object' && 'term' in encoded ? encoded.term : [];
    return {
      module: String(module),
      fn: String(fns[index]),
      args: Array.isArray(inner) ? inner : [],
    };
  });
}

async function workerMain(request: WorkerRequest): Promise<WorkerResult> {
  // Node.js (and tsx, when run through it), before the collector's modules: what any process of
  // this kind weighs.
  const baselineRssBytes = process.memoryUsage.rss();
  const [{ loadConfig }, { startClusterCollector }, { connectNode }, { atom }] = await Promise.all([
    import('../../server/config'),
    import('../../server/collector'),
    import('../../server/erlang'),
    import('../../server/erlang/codec'),
  ]);
  const WALL_CLOCK = String(atom('wall_clock'));
  // With the collector's modules loaded (the Kubernetes client, the codec; tsx's source maps when
  // run through it) and collected, before the collector starts: what the process weighs with
  // nothing to watch.
  (globalThis as { gc?: () => void }).gc?.();
  const modulesRssBytes = process.memoryUsage.rss();
  const { heapUsed: modulesHeapBytes, external: modulesExternalBytes } = process.memoryUsage();
  const config = await loadConfig(request.configFile);
  const cluster = config.clusters[0]!;

  // Probe calls are watched through the manager's `connect` seam: every connection's rpc is
  // wrapped to mark when calls start and end, and quiet gaps separate one poll's cycle from the next.
  const segments: Segment[] = [];
  let current: Segment | undefined;
  let inFlight = 0;
  let lastEnd = 0;
  /**
   * Probes started (each asks `erlang:statistics(wall_clock)`, the uptime, at every probe: the
   * versions are asked once per connection in a large cluster), with their times.
   */
  const probeStarts: number[] = [];
  /** BEAMSCOPE_BENCH_DEBUG: calls by `module:function` (ETS calls by table). */
  const callsByFunction = new Map<string, number>();
  const countCalls = Boolean(process.env.BEAMSCOPE_BENCH_DEBUG);
  const onStart = () => {
    const now = performance.now();
    if (inFlight === 0 && (!current || now - lastEnd > CYCLE_GAP_MS)) {
      if (current) segments.push({ ...current, end: lastEnd });
      current = { start: now, end: now, calls: 0 };
    }
    inFlight += 1;
    current!.calls += 1;
  };
  const onEnd = () => {
    inFlight -= 1;
    lastEnd = performance.now();
  };
  /** How long each connection attempt took (TCP connect and handshake), ms. */
  const handshakes: number[] = [];
  const connect: typeof connectNode = async (target, options) => {
    const attemptStarted = performance.now();
    const connection = await connectNode(target, options);
    handshakes.push(performance.now() - attemptStarted);
    const rpc = connection.rpc.bind(connection);
    connection.rpc = (module, fn, args, callOptions) => {
      onStart();
      // A probe's calls made at once travel as one (`batchProbe`): its elements are the calls.
      const elements = module === 'lists' && fn === 'zipwith3' ? batchElements(args) : undefined;
      if (countCalls) {
        // ETS calls by table: the registry comparison's calls apart from the probes'.
        const name = module === 'ets' ? `ets:${fn}(${String(args[0])})` : `${module}:${fn}`;
        callsByFunction.set(name, (callsByFunction.get(name) ?? 0) + 1);
        for (const element of elements ?? []) {
          const inner = `  in a batch: ${element.module}:${element.fn}`;
          callsByFunction.set(inner, (callsByFunction.get(inner) ?? 0) + 1);
        }
      }
      const isUptime = (name: string, first: Term | undefined) =>
        name === 'statistics' && String(first) === WALL_CLOCK;
      if (
        isUptime(fn, args[0]) ||
        elements?.some((element) => isUptime(element.fn, element.args[0]))
      )
        probeStarts.push(performance.now());
      return rpc(module, fn, args, callOptions).finally(onEnd);
    };
    return connection;
  };

  // BEAMSCOPE_BENCH_CPU_PROF_PHASE=start: profile the start (connect and first probes) instead.
  const startPhase = process.env.BEAMSCOPE_BENCH_CPU_PROF_PHASE === 'start';
  const startProfile = startPhase ? await startProfiler() : undefined;
  const heapProfiler = await startHeapProfiler();
  if (process.env.BEAMSCOPE_BENCH_DEBUG) {
    // Which collector paths run how often, and what they cost (private methods, debugging only).
    const { Collector } = await import('../../server/collector/collector');
    const prototype = Collector.prototype as unknown as Record<
      string,
      (...args: unknown[]) => unknown
    >;
    const seesOf = prototype.seesOf!;
    const changes = { same: 0, changed: 0, fresh: 0 };
    prototype.seesOf = function (this: unknown, ...args: unknown[]) {
      const result = seesOf.apply(this, args);
      if (args[1] === null) changes.fresh += 1;
      else if (result === args[1]) changes.same += 1;
      else changes.changed += 1;
      return result;
    };
    setInterval(() => {
      process.stderr.write(`probe-scale worker: sees ${JSON.stringify(changes)}\n`);
    }, 10_000).unref();
    for (const method of ['recomputeOnce', 'flush', 'probe', 'poll']) {
      const original = prototype[method]!;
      const stats = { calls: 0, ms: 0 };
      prototype[method] = function (this: unknown, ...args: unknown[]) {
        stats.calls += 1;
        const at = performance.now();
        try {
          return original.apply(this, args);
        } finally {
          stats.ms += performance.now() - at;
        }
      };
      setInterval(() => {
        process.stderr.write(`probe-scale worker: ${method} ${JSON.stringify(stats)}\n`);
      }, 10_000).unref();
    }
  }
  process.send?.({ starting: true } satisfies WorkerMessage);
  const started = performance.now();
  // The start (1,000 connections and first probes at once) has its own peak: sampled apart.
  let startPeakRssBytes = 0;
  const startSampler = setInterval(() => {
    startPeakRssBytes = Math.max(startPeakRssBytes, process.memoryUsage.rss());
  }, 500);
  startSampler.unref();
  const upstream = await startClusterCollector(cluster, {
    localName: request.localName,
    // BEAMSCOPE_BENCH_MAX_CONNECTS: connection attempts in flight at once (the manager's default
    // otherwise), to try the start at another concurrency.
    manager: {
      connect,
      ...(process.env.BEAMSCOPE_BENCH_MAX_CONNECTS
        ? { maxConcurrentConnects: Number(process.env.BEAMSCOPE_BENCH_MAX_CONNECTS) }
        : {}),
    },
    collector: { pollIntervalMs: request.intervalMs },
  });
  const deltas: number[] = [];
  const stages = new StartStages(request.expected, started);
  upstream.source.on('members', (members) => stages.listed(members.length));
  upstream.manager?.on('state', (node, state) => {
    if (state.status === 'connected') stages.connected(node);
  });
  upstream.collector.onHistoryPoint((node) => stages.probed(node));
  // What a client is told: the collector's published state (read, not computed: `snapshot()`
  // would compute a pending change at once).
  const published = () => (upstream.collector as unknown as { state: ClusterState }).state;
  upstream.collector.subscribe((message) => {
    if (message.type !== 'delta') return;
    deltas.push(performance.now());
    if (!stages.done()) stages.publishedState(published());
  });
  try {
    // Generous: on a busy 2-core machine 1,000 nodes took 1.5–2.5 min to connect and probe.
    const deadline = Date.now() + 240_000;
    for (;;) {
      // Every node in the published state, connected and probed: then the stages are complete.
      if (stages.done()) break;
      // Not from snapshot(): a snapshot computes any pending change at once, and asked for every
      // second it would make the collector recompute far more often than it does on its own.
      const nodes = upstream.source.members().flatMap((member) => member.beamNode ?? []);
      const connected = nodes.filter(
        (node) => upstream.manager?.state(node).status === 'connected',
      ).length;
      // Every node probed at least once (its history has a point), so no first report of a
      // node's peers (a new mesh) falls into the measured cycles.
      const probed = nodes.filter((node) => upstream.collector.nodeHistory(node).length > 0).length;
      if (process.env.BEAMSCOPE_BENCH_DEBUG) {
        process.stderr.write(
          `probe-scale worker: ${nodes.length} members, ${connected} connected, ${probed} probed\n`,
        );
      }
      if (Date.now() > deadline) {
        await startProfile?.stop(`probe-scale-start-${request.expected}`);
        throw new Error(
          `only ${connected} of ${request.expected} nodes connected (${probed} probed) in time`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    clearInterval(startSampler);
    const start = { ...stages.result(), handshakeMs: distribution(handshakes) };
    // The harness reads the simulated nodes' CPU now: their share of the start.
    process.send?.({ started: true } satisfies WorkerMessage);
    await startProfile?.stop(`probe-scale-start-${request.expected}`);
    // One more interval so the measured cycles are all steady-state polls.
    await new Promise((resolve) => setTimeout(resolve, request.intervalMs));

    const firstSegment = segments.length + (current ? 1 : 0);
    const firstProbe = probeStarts.length;
    const profiler = startPhase ? undefined : await startProfiler();
    const callsBefore = new Map(callsByFunction);
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    let rssBytes = 0;
    let heapUsedBytes = 0;
    // rss() alone is cheap; the full memoryUsage() walks the heap, so it is read once, at the end.
    const sample = () => {
      rssBytes = Math.max(rssBytes, process.memoryUsage.rss());
    };
    const sampler = setInterval(sample, 500);
    // Measure whole intervals: CPU over N intervals is the cost of N cycles.
    await new Promise((resolve) => setTimeout(resolve, request.cycles * request.intervalMs));
    const cpu = process.cpuUsage(cpuBefore);
    const wallMs = performance.now() - wallBefore;
    if (countCalls) {
      const measuredCalls = [...callsByFunction]
        .map(([name, count]): [string, number] => [name, count - (callsBefore.get(name) ?? 0)])
        .sort((a, b) => b[1] - a[1]);
      const allCalls = [...callsByFunction].sort((a, b) => b[1] - a[1]);
      process.stderr.write(`probe-scale worker: calls measured ${JSON.stringify(measuredCalls)}\n`);
      process.stderr.write(`probe-scale worker: calls since start ${JSON.stringify(allCalls)}\n`);
    }
    const probesInWindow = probeStarts.length - firstProbe;
    clearInterval(sampler);
    sample();
    const atEnd = process.memoryUsage();
    heapUsedBytes = atEnd.heapUsed;
    const heapTotalBytes = atEnd.heapTotal;
    const rssFileBytes = await mappedFileBytes();
    const spacesAtEnd = getHeapSpaceStatistics();
    // What is live once the garbage is gone (after the RSS samples: a full collection here must
    // not lower the figure measured).
    (globalThis as { gc?: () => void }).gc?.();
    const { heapUsed: liveHeapBytes, external: externalBytes } = process.memoryUsage();
    const liveBySpace = new Map(
      getHeapSpaceStatistics().map((space) => [space.space_name, space.space_used_size]),
    );
    const heapSpaces = spacesAtEnd.map((space): HeapSpace => ({
      space: space.space_name,
      sizeBytes: space.space_size,
      physicalBytes: space.physical_space_size,
      usedBytes: space.space_used_size,
      liveBytes: liveBySpace.get(space.space_name) ?? 0,
    }));
    await profiler?.stop(`probe-scale-${request.expected}`);
    await heapProfiler?.stop(`probe-scale-${request.expected}`);
    // Let the last cycle finish before reading the segments.
    await new Promise((resolve) => setTimeout(resolve, request.intervalMs));
    if (current && inFlight === 0) {
      segments.push({ ...current, end: lastEnd });
      current = undefined;
    }
    const measured = segments.slice(firstSegment);
    if (process.env.BEAMSCOPE_BENCH_DEBUG) {
      process.stderr.write(
        `probe-scale worker: segments ${JSON.stringify({ firstSegment, inFlight, all: segments.map((segment) => [Math.round(segment.start), Math.round(segment.end - segment.start), segment.calls]) })}\n`,
      );
    }
    const cycles = measured.map((segment) => segment.end - segment.start);
    const cyclesToState = measured.map((segment) => {
      const delta = deltas.find((at) => at >= segment.end);
      return (delta ?? segment.end) - segment.start;
    });
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const medianCalls = median(measured.map((segment) => segment.calls)) ?? 0;
    // Cycles that run into each other leave no quiet gap between them (fewer, longer segments):
    // then a cycle is measured by throughput, the time the collector took per `expected` probes.
    const overrun =
      measured.length < request.cycles - 1 || cycles.some((ms) => ms > request.intervalMs);
    const throughputCycleMs = (request.expected / Math.max(1, probesInWindow)) * wallMs;
    return {
      baselineRssBytes,
      modulesRssBytes,
      modulesHeapBytes,
      modulesExternalBytes,
      heapTotalBytes,
      rssFileBytes,
      liveHeapBytes,
      heapSpaces,
      externalBytes,
      cycles: overrun ? [throughputCycleMs] : cycles,
      cyclesToState: overrun ? [throughputCycleMs] : cyclesToState,
      overrun,
      callsPerCycle: medianCalls,
      rssBytes,
      heapUsedBytes,
      startPeakRssBytes,
      cpuPercentOfCore: (cpuMs / wallMs) * 100,
      cpuMsPerCycle: cpuMs / (wallMs / request.intervalMs),
      firstFullStateMs: start.publishedMs,
      start,
    };
  } finally {
    await upstream.stop();
  }
}

// ----- helpers ------------------------------------------------------------------------------

/** This process's resident mapped files (`RssFile` in /proc/self/status), or null off Linux. */
async function mappedFileBytes(): Promise<number | null> {
  try {
    const status = await readFile('/proc/self/status', 'utf8');
    const kB = /^RssFile:\s+(\d+) kB$/m.exec(status)?.[1];
    return kB === undefined ? null : Number(kB) * 1024;
  } catch {
    return null;
  }
}

function median(values: number[]): number | undefined {
  return quantile(values, 0.5) ?? undefined;
}

/**
 * `BEAMSCOPE_BENCH_HEAP_PROF=DIR`: a sampling heap profile of what the collector allocates over
 * its whole run and still holds at the end of the measured cycles (a DevTools `.heapprofile`).
 * With `BEAMSCOPE_BENCH_HEAP_PROF_PROMOTED=1` it also keeps what survived the young generation
 * and died in the old one: the garbage that grows the heap (and so the RSS) between major GCs;
 * with `BEAMSCOPE_BENCH_HEAP_PROF_ALL=1` every sampled allocation, the young generation's
 * garbage too (what its collections cost).
 */
async function startHeapProfiler(): Promise<{ stop(name: string): Promise<void> } | undefined> {
  const dir = process.env.BEAMSCOPE_BENCH_HEAP_PROF;
  if (!dir) return undefined;
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 32_768,
    includeObjectsCollectedByMajorGC:
      process.env.BEAMSCOPE_BENCH_HEAP_PROF_PROMOTED === '1' ||
      process.env.BEAMSCOPE_BENCH_HEAP_PROF_ALL === '1',
    includeObjectsCollectedByMinorGC: process.env.BEAMSCOPE_BENCH_HEAP_PROF_ALL === '1',
  });
  return {
    async stop(name) {
      await session.post('HeapProfiler.collectGarbage');
      const { profile } = await session.post('HeapProfiler.stopSampling');
      await writeFile(join(dir, `${name}-${Date.now()}.heapprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/**
 * `BEAMSCOPE_BENCH_CPU_PROF=DIR`: a CPU profile of the collector worker over the measured cycles
 * only (what `node --cpu-prof` would record, without the start-up), written to DIR.
 */
async function startProfiler(): Promise<{ stop(name: string): Promise<void> } | undefined> {
  const dir = process.env.BEAMSCOPE_BENCH_CPU_PROF;
  if (!dir) return undefined;
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(name) {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(join(dir, `${name}-${Date.now()}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

// ----- entry --------------------------------------------------------------------------------

// Forked by bench/probe-scale.ts with `--worker`; imported for its types only otherwise.
if (process.argv.includes('--worker')) {
  // The benchmark that started this worker is gone: so is the worker.
  process.once('disconnect', () => process.exit(1));
  process.once('message', (request: WorkerRequest) => {
    workerMain(request).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (error: unknown) => process.send!({ error: describeError(error) }, () => process.exit(1)),
    );
  });
}
