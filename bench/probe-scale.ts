/**
 * Probe cost and scale (issue 9, item 4): full probe cycles through beamscope's real collector
 * (server/collector: Kubernetes source, connection manager, probes, state diff) over
 *   (a) 20 real BEAM pods of the sandox (`beamscope sandbox`, a child process),
 *   (b) 100, (c) 1,000 and (d) 2,000 simulated nodes (test/support/sim-node, in a child process,
 *       niced to 10) listed as pods by the emulated Kubernetes API running in that same child.
 * The collector itself runs in a fresh worker process per size, so its RSS and CPU are its own:
 * neither the nodes, the emulated API nor this harness count.
 *
 * Per size: the cycle time (first probe call of a poll → last reply, and → the state delta that
 * carries it), median and p99 over ≥ 10 cycles; the first full state; the collector's RSS (and
 * the worker's RSS before the collector started, its baseline); its CPU per cycle as a share of
 * one core at the 2 s default interval; the load average before and after. Goals at 1,000
 * nodes (issue 16): cycle p99 ≤ 1 s, first full state ≤ 2 s, RSS ≤ 300 MB, CPU ≤ 30 % of one core.
 *
 * Run alone: `tsx --conditions=react-server bench/probe-scale.ts
 * [--sizes real20,sim100,sim1000,sim2000] [--cycles 10]`; under `bench/run.ts`, the sizes come
 * from `BEAMSCOPE_BENCH_PROBE_SIZES` (same syntax), every size by default.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import type { ClusterState } from '../lib/cluster-state';
import type { Term } from '../server/erlang/codec/terms';
import { describeError } from '../server/errors';
import { freePort } from '../test/support/ports';
import { goalFigure, plainFigure, type Figure } from './support/figures';
import { writeSimulatedClusterConfig } from './support/sim-config';
import { quantile, roundTo } from './support/stats';
import {
  simulatedAddresses,
  simulatedAddressMap,
  startSimulatedClusterProcess,
  type SimulatedClusterProcess,
} from '../test/support/sim-node';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const INTERVAL_MS = 2000;
/** A quiet gap this long between probe calls separates two cycles. */
const CYCLE_GAP_MS = 150;

/** `real20`, or `sim<N>` simulated nodes (`sim100`, `sim1000`). */
export type ProbeScaleSize = 'real20' | `sim${number}`;

const DEFAULT_SIZES: ProbeScaleSize[] = ['real20', 'sim100', 'sim1000', 'sim2000'];

export interface Distribution {
  samples: number;
  median: number;
  p99: number;
}

export type { Figure };

/** One size's figures. */
export interface ProbeScaleRun {
  size: ProbeScaleSize;
  /** The machine's 1-minute load average after the run: times on a busy machine stretch. */
  loadAverage: number;
  /** The same before the nodes started. */
  loadAverageBefore: number;
  /** The collector worker's RSS before the collector's modules were loaded (Node.js and tsx). */
  baselineRssMB: number;
  /** The same with the collector's modules loaded, before the collector started. */
  modulesRssMB: number;
  /** The JS heap in use at that point, after a full collection: the modules' share of the heap. */
  modulesHeapMB: number;
  /** And the memory outside the heap then (Node's WebAssembly lexer of CommonJS sources among it). */
  modulesExternalMB: number;
  kind: 'real' | 'simulated';
  nodes: number;
  intervalMs: number;
  /** From the first probe call of a poll to the last reply of that poll. */
  cycleMs: Distribution;
  /** From the first probe call of a poll to the state delta published after its last reply. */
  cycleToStateMs: Distribution;
  /** True when a cycle did not finish within the interval (then cycles run into each other). */
  overrun: boolean;
  /** Probe calls answered per cycle (≈ 14 per node). */
  callsPerCycle: number;
  /** The collector process's resident set: highest sample while measuring. */
  rssMB: number;
  heapUsedMB: number;
  /**
   * After the measured cycles and a full collection: the JS heap still in use (what is live,
   * the modules' share included) and the memory outside it (Buffers, ArrayBuffers, WebAssembly).
   * The RSS above them is V8's headroom for garbage between full collections and pages not yet
   * handed back.
   */
  liveHeapMB: number;
  externalMB: number;
  /**
   * At the end of the measured cycles, before that collection: the heap V8 had reserved (used
   * and free), and the part of the RSS that is mapped files (Node's binary and libraries). The
   * rest of the RSS above the heap and the external memory is malloc's: freed memory it keeps.
   */
  heapTotalMB: number;
  rssFileMB: number | null;
  /** The collector process's CPU over the measured cycles, as % of one core. */
  cpuPercentOfCore: number;
  /** CPU time per cycle, ms. */
  cpuMsPerCycle: number;
  /**
   * From starting the collector to its first published state with every node connected and
   * probed once (what a client is told).
   */
  firstFullStateMs: number;
  /** The start's stages (Kubernetes list, connections, first probes, published state). */
  start: StartTimes;
  /**
   * The simulated nodes' process CPU from the worker's start to its first full state, % of one
   * core: near 100 % the nodes, not the collector, set the pace of the start.
   */
  nodesCpuPercentOfCoreAtStart: number | null;
  /**
   * The simulated nodes' process CPU over the worker's whole run (start and measured cycles), %
   * of one core: near 100 % (niced, on a shared machine) the nodes, not the collector, set the
   * pace of a cycle.
   */
  nodesCpuPercentOfCore: number | null;
  /** This run's figures for bench/run.ts's table. */
  figures: Figure[];
}

export interface ProbeScaleResults {
  intervalMs: number;
  runs: ProbeScaleRun[];
  /** Sizes that could not be measured, and why. */
  failures: Array<{ size: ProbeScaleSize; error: string }>;
  /** The goals, at 1,000 nodes. */
  goals: { cycleMs: Figure; firstFullStateMs: Figure; rssMB: Figure; cpuPercentOfCore: Figure };
  notes: string[];
}

export interface ProbeScaleOptions {
  sizes?: ProbeScaleSize[];
  /** Cycles measured per size; default 10. */
  cycles?: number;
  /** Where progress lines go; default stderr. */
  log?: (line: string) => void;
}

// ----- worker: the collector, measured ----------------------------------------------------

interface WorkerRequest {
  configFile: string;
  localName: string;
  expected: number;
  cycles: number;
  intervalMs: number;
}

interface WorkerResult {
  baselineRssBytes: number;
  modulesRssBytes: number;
  modulesHeapBytes: number;
  modulesExternalBytes: number;
  heapTotalBytes: number;
  rssFileBytes: number | null;
  liveHeapBytes: number;
  externalBytes: number;
  cycles: number[];
  cyclesToState: number[];
  overrun: boolean;
  callsPerCycle: number;
  rssBytes: number;
  heapUsedBytes: number;
  cpuPercentOfCore: number;
  cpuMsPerCycle: number;
  firstFullStateMs: number;
  start: StartTimes;
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
  /** One connection attempt (TCP connect and handshake) while they queue for their slots. */
  handshakeMs: Distribution;
  /** The simulated nodes' event-loop delay from the collector's start to its first full state. */
  nodesLoopDelayMs?: { p99: number; max: number };
}

/** Marks when the start reaches each stage (see {@link StartTimes}). */
class StartStages {
  private readonly connectedNodes = new Set<string>();
  private readonly probedNodes = new Set<string>();
  private readonly times: Omit<StartTimes, 'publishedMs' | 'handshakeMs' | 'nodesLoopDelayMs'> & {
    publishedMs: number | null;
  } = {
    listedMs: null,
    halfConnectedMs: null,
    connectedMs: null,
    halfProbedMs: null,
    probedMs: null,
    publishedMs: null,
  };

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
    if (ready >= this.expected) this.times.publishedMs ??= this.elapsed();
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
interface WorkerMessage {
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
  // Node.js with tsx, before the collector's modules: what any process of this kind weighs.
  const baselineRssBytes = process.memoryUsage.rss();
  const [{ loadConfig }, { startClusterCollector }, { connectNode }, { atom }] = await Promise.all([
    import('../server/config'),
    import('../server/collector'),
    import('../server/erlang'),
    import('../server/erlang/codec'),
  ]);
  const WALL_CLOCK = String(atom('wall_clock'));
  // With the collector's modules loaded (the Kubernetes client, the codec, tsx's source maps)
  // and collected, before the collector starts: what the process weighs with nothing to watch.
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
    const { Collector } = await import('../server/collector/collector');
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
    // What is live once the garbage is gone (after the RSS samples: a full collection here must
    // not lower the figure measured).
    (globalThis as { gc?: () => void }).gc?.();
    const { heapUsed: liveHeapBytes, external: externalBytes } = process.memoryUsage();
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
      externalBytes,
      cycles: overrun ? [throughputCycleMs] : cycles,
      cyclesToState: overrun ? [throughputCycleMs] : cyclesToState,
      overrun,
      callsPerCycle: medianCalls,
      rssBytes,
      heapUsedBytes,
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

const round = roundTo;

function distribution(values: number[]): Distribution {
  return {
    samples: values.length,
    median: round(median(values) ?? Number.NaN),
    p99: round(quantile(values, 0.99) ?? Number.NaN),
  };
}

function known(value: number | undefined): number | null {
  return value === undefined || Number.isNaN(value) ? null : round(value);
}

/** Runs the collector worker (this file with `--worker`) against one configuration. */
function runWorker(
  request: WorkerRequest,
  onStart: { starting(): void; started(): void },
): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(SELF, ['--worker'], {
      cwd: ROOT,
      // BEAMSCOPE_BENCH_COLLECTOR_FLAGS: Node.js/V8 flags for the collector's process alone (to
      // try heap settings: `--max-old-space-size=1024`), not for the simulated nodes.
      execArgv: [
        '--expose-gc',
        ...(process.env.BEAMSCOPE_BENCH_COLLECTOR_FLAGS?.split(' ').filter(Boolean) ?? []),
        '--import',
        'tsx',
        '--conditions=react-server',
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json') },
    });
    let result: WorkerResult | undefined;
    let failure: string | undefined;
    child.on('message', (message: WorkerMessage) => {
      if (message.starting) onStart.starting();
      if (message.started) onStart.started();
      result = message.result ?? result;
      failure = message.error ?? failure;
    });
    child.once('exit', (code) => {
      if (result) resolve(result);
      else reject(new Error(`probe-scale worker failed (exit ${code}): ${failure ?? 'no result'}`));
    });
    child.send(request);
  });
}

/**
 * `BEAMSCOPE_BENCH_HEAP_PROF=DIR`: a sampling heap profile of what the collector allocates over
 * its whole run and still holds at the end of the measured cycles (a DevTools `.heapprofile`).
 * With `BEAMSCOPE_BENCH_HEAP_PROF_PROMOTED=1` it also keeps what survived the young generation
 * and died in the old one: the garbage that grows the heap (and so the RSS) between major GCs.
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
    includeObjectsCollectedByMajorGC: process.env.BEAMSCOPE_BENCH_HEAP_PROF_PROMOTED === '1',
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

interface Targets {
  configFile: string;
  nodes: number;
  /** The simulated nodes' process CPU time so far, µs (simulated targets only). */
  cpuMicros?(): Promise<number>;
  /** The simulated nodes' event-loop delay since the last call (simulated targets only). */
  loopDelayMs?(): Promise<{ p99: number; max: number }>;
  stop(): Promise<void>;
}

/** `beamscope sandbox` with `pods` real BEAM pods, in a child process, on a free dist port. */
async function startSandboxPods(pods: number, dir: string): Promise<Targets> {
  const distPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin/beamscope.mjs'),
      'sandbox',
      '--pods',
      String(pods),
      '--devices',
      String(pods * 100),
      '--dir',
      join(dir, 'sandbox'),
      '--dist-port',
      String(distPort),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    const configFile = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`sandbox not ready in 180 s: ${stderr}`)),
        180_000,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sandbox exited (${code}): ${stderr}`));
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        try {
          const message = JSON.parse(line) as { ready?: boolean; config?: string };
          if (message.ready && message.config) {
            clearTimeout(timer);
            resolve(message.config);
          }
        } catch {
          // not the ready line
        }
      });
    });
    return { configFile, nodes: pods, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** `count` simulated nodes and the emulated API listing them, in a child process. */
async function startSimulatedPods(count: number, dir: string): Promise<Targets> {
  const port = await freePort();
  const cookie = randomBytes(16).toString('hex');
  // Niced: the nodes share the machine's cores with the collector, which must come first.
  const sim: SimulatedClusterProcess = await startSimulatedClusterProcess(
    {
      addresses: simulatedAddresses(count),
      addressMap: simulatedAddressMap(),
      port,
      cookie,
      basename: 'myapp',
      kubeApi: { tls: true },
    },
    10,
  );
  try {
    const configFile = await writeSimulatedClusterConfig({
      api: sim.api!,
      cookie,
      port,
      addressMap: simulatedAddressMap(),
      dir,
      suffix: String(count),
    });
    return {
      configFile,
      nodes: count,
      cpuMicros: async () => (await sim.stats()).cpuMicros,
      loopDelayMs: async () => {
        const stats = await sim.stats();
        return { p99: stats.loopDelayP99Ms, max: stats.loopDelayMaxMs };
      },
      stop: () => sim.stop(),
    };
  } catch (error) {
    await sim.stop();
    throw error;
  }
}

/** Runs the probe-scale benchmark; see the file comment. */
export async function runProbeScaleBench(
  options: ProbeScaleOptions = {},
): Promise<ProbeScaleResults> {
  const sizes =
    options.sizes ??
    (process.env.BEAMSCOPE_BENCH_PROBE_SIZES?.split(',') as ProbeScaleSize[] | undefined) ??
    DEFAULT_SIZES;
  const cycles = Math.max(10, options.cycles ?? 10);
  const log = (text: string) => {
    if (options.log) options.log(`probe-scale: ${text}`);
    else process.stderr.write(`probe-scale: ${text}\n`);
  };
  const dir = await mkdtemp(join(tmpdir(), 'beamscope-probe-scale-'));
  const runs: ProbeScaleRun[] = [];
  const failures: Array<{ size: ProbeScaleSize; error: string }> = [];
  try {
    for (const size of sizes) {
      const real = size === 'real20';
      const count = real ? 20 : Number(size.slice('sim'.length));
      const loadAverageBefore = round(loadavg()[0] ?? 0);
      log(`${size}: starting ${count} ${real ? 'sandbox BEAM pods' : 'simulated nodes'}`);
      let targets: Targets;
      try {
        targets = real
          ? // 20 BEAM nodes booting on a busy 2-core machine can miss the sandbox's own start
            // deadline: one more try before giving up.
            await startSandboxPods(count, dir).catch((error: unknown) => {
              log(
                `${size}: ${error instanceof Error ? error.message.split('\n')[0] : error}; retrying`,
              );
              return startSandboxPods(count, dir);
            })
          : await startSimulatedPods(count, dir);
      } catch (error) {
        // One size that cannot start (20 BEAM nodes on an overloaded machine) must not cost the
        // others their figures: it is reported as failed.
        const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
        log(`${size}: could not start: ${message}`);
        failures.push({ size, error: message });
        continue;
      }
      try {
        log(`${size}: measuring ${cycles} cycles at ${INTERVAL_MS} ms`);
        const nodesCpuBefore = await targets.cpuMicros?.();
        const workerStarted = performance.now();
        let nodesCpuAtStart: Promise<number | null> = Promise.resolve(null);
        let collectorStarting: { at: number; micros: Promise<number> | undefined } | undefined;
        let nodesLoopDelay: Promise<{ p99: number; max: number }> | undefined;
        const result = await runWorker(
          {
            configFile: targets.configFile,
            localName: `beamscope_bench_${randomBytes(3).toString('hex')}@127.0.0.1`,
            expected: count,
            cycles,
            intervalMs: INTERVAL_MS,
          },
          {
            // The nodes' share of a core from the collector's start to its first full state.
            starting: () => {
              collectorStarting = { at: performance.now(), micros: targets.cpuMicros?.() };
              // From here to the first full state: the nodes' event-loop delay during the start.
              void targets.loopDelayMs?.();
            },
            started: () => {
              nodesLoopDelay = targets.loopDelayMs?.();
              const from = collectorStarting;
              const at = performance.now();
              if (!from?.micros || !targets.cpuMicros) return;
              nodesCpuAtStart = Promise.all([from.micros, targets.cpuMicros()]).then(
                ([before, after]) => round(((after - before) / 1000 / (at - from.at)) * 100),
              );
            },
          },
        );
        const label = real ? `${count} real BEAM pods` : `${count} simulated nodes`;
        const run: ProbeScaleRun = {
          size,
          loadAverage: round(loadavg()[0] ?? 0),
          loadAverageBefore,
          baselineRssMB: round(result.baselineRssBytes / 1024 / 1024),
          modulesRssMB: round(result.modulesRssBytes / 1024 / 1024),
          modulesHeapMB: round(result.modulesHeapBytes / 1024 / 1024),
          modulesExternalMB: round(result.modulesExternalBytes / 1024 / 1024),
          kind: real ? 'real' : 'simulated',
          nodes: count,
          intervalMs: INTERVAL_MS,
          cycleMs: distribution(result.cycles),
          cycleToStateMs: distribution(result.cyclesToState),
          overrun: result.overrun,
          callsPerCycle: result.callsPerCycle,
          rssMB: round(result.rssBytes / 1024 / 1024),
          heapUsedMB: round(result.heapUsedBytes / 1024 / 1024),
          liveHeapMB: round(result.liveHeapBytes / 1024 / 1024),
          heapTotalMB: round(result.heapTotalBytes / 1024 / 1024),
          rssFileMB: result.rssFileBytes === null ? null : round(result.rssFileBytes / 1024 / 1024),
          externalMB: round(result.externalBytes / 1024 / 1024),
          cpuPercentOfCore: round(result.cpuPercentOfCore),
          cpuMsPerCycle: round(result.cpuMsPerCycle),
          firstFullStateMs: Math.round(result.firstFullStateMs),
          start: { ...result.start, nodesLoopDelayMs: await nodesLoopDelay },
          nodesCpuPercentOfCoreAtStart: await nodesCpuAtStart,
          nodesCpuPercentOfCore:
            nodesCpuBefore === undefined
              ? null
              : round(
                  (((await targets.cpuMicros!()) - nodesCpuBefore) /
                    1000 /
                    (performance.now() - workerStarted)) *
                    100,
                ),
          figures: [],
        };
        const toState = run.cycleToStateMs;
        run.figures.push(
          plainFigure(
            `probe cycle, ${label} (median)`,
            known(toState.median),
            'ms',
            toState.samples,
          ),
          plainFigure(`first full state, ${label}`, run.firstFullStateMs, 'ms'),
          plainFigure(
            `first full state, ${label}: every node probed (before the state is published)`,
            run.start.probedMs,
            'ms',
          ),
          plainFigure(
            `simulated nodes' process CPU during the start, ${label}`,
            run.nodesCpuPercentOfCoreAtStart,
            '% of a core',
          ),
        );
        // At 1,000 nodes the p99, first state, RSS and CPU are the goals' figures (in `goals`).
        if (size !== 'sim1000') {
          run.figures.push(
            plainFigure(`probe cycle, ${label} (p99)`, known(toState.p99), 'ms', toState.samples),
            plainFigure(`collector RSS, ${label}`, run.rssMB, 'MB'),
            plainFigure(`collector CPU, ${label}`, run.cpuPercentOfCore, '% of a core'),
          );
        }
        run.figures.push(
          plainFigure(
            `collector process baseline RSS (before the collector), ${label}`,
            run.baselineRssMB,
            'MB',
          ),
          plainFigure(
            `collector process RSS with its modules loaded (before it started), ${label}`,
            run.modulesRssMB,
            'MB',
          ),
          plainFigure(`collector process heap live after the run, ${label}`, run.liveHeapMB, 'MB'),
          plainFigure(
            `collector process heap with its modules loaded (before it started), ${label}`,
            run.modulesHeapMB,
            'MB',
          ),
          plainFigure(`collector process memory outside the heap, ${label}`, run.externalMB, 'MB'),
          plainFigure(`load average (1 min) after the run, ${label}`, run.loadAverage, ''),
          plainFigure(
            `simulated nodes' process CPU over the run, ${label}`,
            run.nodesCpuPercentOfCore,
            '% of a core',
          ),
        );
        log(
          `${size}: start: listed ${run.start.listedMs} ms, connected half/all ${run.start.halfConnectedMs}/${run.start.connectedMs} ms, probed half/all ${run.start.halfProbedMs}/${run.start.probedMs} ms, published ${run.start.publishedMs} ms; handshake median/p99 ${run.start.handshakeMs.median}/${run.start.handshakeMs.p99} ms; the nodes' CPU ${run.nodesCpuPercentOfCoreAtStart} % of a core, loop delay p99/max ${run.start.nodesLoopDelayMs?.p99}/${run.start.nodesLoopDelayMs?.max} ms`,
        );
        log(
          `${size}: cycle median ${run.cycleMs.median} ms p99 ${run.cycleMs.p99} ms, to state ${run.cycleToStateMs.median}/${run.cycleToStateMs.p99} ms${run.overrun ? ' (overrun)' : ''}, first full state ${run.firstFullStateMs} ms, RSS ${run.rssMB} MB (baseline ${run.baselineRssMB} MB, modules loaded ${run.modulesRssMB} MB with ${run.modulesHeapMB} MB of heap and ${run.modulesExternalMB} MB outside it; heap reserved at the end ${run.heapTotalMB} MB, mapped files ${run.rssFileMB} MB; live heap after the run ${run.liveHeapMB} MB, outside the heap ${run.externalMB} MB), CPU ${run.cpuPercentOfCore} % of a core (the nodes' ${run.nodesCpuPercentOfCore} %), load ${run.loadAverageBefore} → ${run.loadAverage}`,
        );
        runs.push(run);
      } catch (error) {
        const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
        log(`${size}: failed: ${message}`);
        failures.push({ size, error: message });
      } finally {
        await targets.stop();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const atScale = runs.find((run) => run.size === 'sim1000');
  return {
    intervalMs: INTERVAL_MS,
    runs,
    failures,
    goals: {
      cycleMs: goalFigure(
        'probe cycle, 1,000 simulated nodes (p99, to state)',
        known(atScale?.cycleToStateMs.p99),
        1000,
        'ms',
        atScale?.cycleToStateMs.samples,
      ),
      firstFullStateMs: goalFigure(
        'first full state, 1,000 simulated nodes (goal)',
        known(atScale?.firstFullStateMs),
        2000,
        'ms',
      ),
      rssMB: goalFigure('collector RSS, 1,000 nodes', known(atScale?.rssMB), 300, 'MB'),
      cpuPercentOfCore: goalFigure(
        'collector CPU, 1,000 nodes, 2 s interval',
        known(atScale?.cpuPercentOfCore),
        30,
        '% of a core',
      ),
    },
    notes: [
      'The collector runs alone in a worker process (Kubernetes source, connection manager, probes, state diff, no HTTP server); the nodes and the emulated API run in another process, niced to 10.',
      'Cycle goal checked on the p99 of first probe call → state delta; CPU over whole 2 s intervals.',
    ],
  };
}

// ----- entry points -------------------------------------------------------------------------

if (process.argv[1] === SELF && process.argv.includes('--worker')) {
  // The benchmark that started this worker is gone: so is the worker.
  process.once('disconnect', () => process.exit(1));
  process.once('message', (request: WorkerRequest) => {
    workerMain(request).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (error: unknown) => process.send!({ error: describeError(error) }, () => process.exit(1)),
    );
  });
} else if (process.argv[1] === SELF) {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: DEFAULT_SIZES.join(',') },
      cycles: { type: 'string', default: '10' },
    },
  });
  const results = await runProbeScaleBench({
    sizes: values.sizes.split(',') as ProbeScaleSize[],
    cycles: Number(values.cycles),
  });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
