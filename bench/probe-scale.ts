/**
 * Probe cost and scale (issue 9, item 4): full probe cycles through beamscope's real collector
 * (server/collector: Kubernetes source, connection manager, probes, state diff) over
 *   (a) 20 real BEAM pods of the sandox (`beamscope sandbox`, a child process),
 *   (b) 100, (c) 1,000 and (d) 2,000 simulated nodes (test/support/sim-node, in a child process,
 *       niced to 10) listed as pods by the emulated Kubernetes API running in that same child.
 * The collector itself runs in a fresh worker process per size (support/collector-worker.ts), so
 * its RSS and CPU are its own: neither the nodes, the emulated API nor this harness count. It runs
 * what ships: its code compiled as the production build compiles it (an esbuild bundle run by
 * plain Node.js, not TypeScript through tsx, whose transforms and source maps weighed 66 MB more),
 * with the environment deploy/kubernetes/deployment.yaml gives the server (its NODE_OPTIONS:
 * `--max-old-space-size=384`, which also makes V8 grow its heap less between full collections).
 * See {@link CollectorProcess} for running it the other ways, to compare.
 *
 * Per size: the cycle time (first probe call of a poll → last reply, and → the state delta that
 * carries it), median and p99 over ≥ 10 cycles; the first full state; the collector's RSS (and
 * the worker's RSS before the collector started, its baseline); its CPU per cycle as a share of
 * one core at the 2 s default interval; the load average before and after. Goals at 1,000
 * nodes (issue 16): cycle p99 ≤ 1 s, first full state ≤ 2 s, RSS ≤ 300 MB, CPU ≤ 30 % of one core;
 * beside the RSS, Next's idle baseline (the shipped standalone server watching no nodes).
 *
 * Run alone: `tsx --conditions=react-server bench/probe-scale.ts
 * [--sizes real20,sim100,sim1000,sim2000] [--cycles 10]`; under `bench/run.ts`, the sizes come
 * from `BEAMSCOPE_BENCH_PROBE_SIZES` (same syntax), every size by default.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { parse } from 'yaml';

import { freePort } from '../test/support/ports';
import { spawnDashboard } from '../test/e2e/support/app';
import { ensureBuild } from './support/build';
import { bundleProgram } from './support/bundled';
import { goalFigure, plainFigure, type Figure } from './support/figures';
import { writeSimulatedClusterConfig } from './support/sim-config';
import { distribution, roundTo as round, type Distribution } from './support/stats';
import type {
  StartTimes,
  WorkerMessage,
  WorkerRequest,
  WorkerResult,
} from './support/collector-worker';
import {
  simulatedAddresses,
  simulatedAddressMap,
  startSimulatedClusterProcess,
  type SimulatedClusterProcess,
} from '../test/support/sim-node';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const WORKER = fileURLToPath(new URL('./support/collector-worker.ts', import.meta.url));
const INTERVAL_MS = 2000;

/** `real20`, or `sim<N>` simulated nodes (`sim100`, `sim1000`). */
export type ProbeScaleSize = 'real20' | `sim${number}`;

const DEFAULT_SIZES: ProbeScaleSize[] = ['real20', 'sim100', 'sim1000', 'sim2000'];

export type { Distribution, Figure, StartTimes };

/** One size's figures. */
export interface ProbeScaleRun {
  size: ProbeScaleSize;
  /** The machine's 1-minute load average after the run: times on a busy machine stretch. */
  loadAverage: number;
  /** The same before the nodes started. */
  loadAverageBefore: number;
  /**
   * The collector worker's RSS before the collector's modules were loaded (Node.js, and tsx when
   * the worker runs through it).
   */
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
  /** The same from the collector's start to its first full state. */
  startPeakRssMB: number;
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
  /** The same by V8 heap space, MB: reserved, resident and used then, and used after the GC. */
  heapSpaces: Array<{
    space: string;
    sizeMB: number;
    physicalMB: number;
    usedMB: number;
    liveMB: number;
  }>;
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
  /** How the collector's process ran (compiled or through tsx, the deployment's settings). */
  collector: CollectorProcess;
  runs: ProbeScaleRun[];
  /** Sizes that could not be measured, and why. */
  failures: Array<{ size: ProbeScaleSize; error: string }>;
  /**
   * The shipped server (Next's standalone build, the deployment's settings) with nothing to
   * watch: Next's idle baseline, which the collector's RSS adds to in the one process that ships
   * (null when it could not be measured; `BEAMSCOPE_BENCH_SERVER_IDLE=0` skips it).
   */
  serverIdle: ServerIdle | null;
  /** The issue's goals, at 1,000 nodes, and Next's idle baseline beside the RSS goal. */
  goals: {
    cycleMs: Figure;
    firstFullStateMs: Figure;
    rssMB: Figure;
    serverIdleRssMB: Figure;
    cpuPercentOfCore: Figure;
  };
  notes: string[];
}

export interface ProbeScaleOptions {
  sizes?: ProbeScaleSize[];
  /** Cycles measured per size; default 10. */
  cycles?: number;
  /** Where progress lines go; default stderr. */
  log?: (line: string) => void;
}

// ----- helpers ------------------------------------------------------------------------------

function known(value: number | undefined): number | null {
  return value === undefined || Number.isNaN(value) ? null : round(value);
}

/**
 * How the collector's process is run: its code compiled as the production build compiles it
 * (`bundle`: esbuild, no source maps, plain Node.js; Next.js bundles the server the same way) or
 * through tsx (`tsx`, `BEAMSCOPE_BENCH_COLLECTOR_BUILD=tsx`: per-file transforms with their
 * source maps kept in memory, and tsx itself in the process); and the environment the
 * deployment sets for the server (`NODE_OPTIONS`, `MALLOC_ARENA_MAX`, read from
 * deploy/kubernetes/deployment.yaml), unless `BEAMSCOPE_BENCH_COLLECTOR_SETTINGS=none`.
 */
export interface CollectorProcess {
  build: 'bundle' | 'tsx';
  /** The deployment's variables applied to the worker (empty with `…_SETTINGS=none`). */
  env: Record<string, string>;
  /** BEAMSCOPE_BENCH_COLLECTOR_FLAGS: more Node.js/V8 flags, to try heap settings. */
  flags: string[];
}

/** The server container's environment in the deployment that the collector's memory depends on. */
const SHIPPED_VARIABLES = new Set(['NODE_OPTIONS', 'MALLOC_ARENA_MAX']);

/** What deploy/kubernetes/deployment.yaml sets of {@link SHIPPED_VARIABLES} for beamscope. */
export async function shippedEnvironment(): Promise<Record<string, string>> {
  const text = await readFile(join(ROOT, 'deploy/kubernetes/deployment.yaml'), 'utf8');
  const deployment = parse(text) as {
    spec: {
      template: {
        spec: {
          containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }>;
        };
      };
    };
  };
  const container = deployment.spec.template.spec.containers.find(
    (candidate) => candidate.name === 'beamscope',
  );
  const env: Record<string, string> = {};
  for (const variable of container?.env ?? []) {
    if (SHIPPED_VARIABLES.has(variable.name) && variable.value !== undefined)
      env[variable.name] = variable.value;
  }
  return env;
}

async function collectorProcess(): Promise<CollectorProcess> {
  return {
    build: process.env.BEAMSCOPE_BENCH_COLLECTOR_BUILD === 'tsx' ? 'tsx' : 'bundle',
    env:
      process.env.BEAMSCOPE_BENCH_COLLECTOR_SETTINGS === 'none' ? {} : await shippedEnvironment(),
    flags: process.env.BEAMSCOPE_BENCH_COLLECTOR_FLAGS?.split(' ').filter(Boolean) ?? [],
  };
}

/** The collector worker (support/collector-worker.ts), compiled once per run when bundled. */
async function workerEntry(how: CollectorProcess): Promise<{ path: string; execArgv: string[] }> {
  const conditions = '--conditions=react-server';
  if (how.build === 'tsx') {
    return {
      path: WORKER,
      execArgv: ['--expose-gc', ...how.flags, '--import', 'tsx', conditions],
    };
  }
  const path = await bundleProgram(`probe-scale-worker-${process.pid}`, WORKER);
  return { path, execArgv: ['--expose-gc', ...how.flags, conditions] };
}

/** Runs the collector worker against one configuration. */
function runWorker(
  request: WorkerRequest,
  how: CollectorProcess,
  entry: { path: string; execArgv: string[] },
  onStart: { starting(): void; started(): void },
): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    // The harness's own NODE_OPTIONS (tsx's, a profiler's) are not the server's: the worker gets
    // the deployment's, or none.
    const env: NodeJS.ProcessEnv = { ...process.env, ...how.env };
    if (how.env.NODE_OPTIONS === undefined) delete env.NODE_OPTIONS;
    if (how.build === 'tsx') env.TSX_TSCONFIG_PATH = join(ROOT, 'tsconfig.json');
    const child: ChildProcess = fork(entry.path, ['--worker'], {
      cwd: ROOT,
      execArgv: entry.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env,
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
async function startSimulatedPods(count: number, dir: string, service?: string): Promise<Targets> {
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
      // A healthy cluster: registries whose hosted entries add up, so the collector reads them
      // on its settled cadence rather than at every probe as during a rebalance.
      settled: true,
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
      suffix: service ? `${count}-${service}` : String(count),
      ...(service ? { service } : {}),
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

/** The shipped server's RSS with nothing to watch (see {@link ProbeScaleResults.serverIdle}). */
export interface ServerIdle {
  /** Once it answers its health check, and 5 s later. */
  rssMB: number;
  /** After it has served the dashboard's page once (its routes' code loaded), and 5 s later. */
  afterPageRssMB: number;
  loadAverage: number;
}

/** VmRSS of `pid`, bytes. */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kB = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kB === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kB) * 1024;
}

/**
 * Next's idle baseline: the production standalone server (built first when stale,
 * support/build.ts), with the deployment's settings, watching a cluster whose service has no
 * nodes (the emulated API of one simulated node, listed under another service).
 */
async function measureServerIdle(
  dir: string,
  how: CollectorProcess,
  log: (line: string) => void,
): Promise<ServerIdle> {
  await ensureBuild(log);
  const targets = await startSimulatedPods(1, dir, 'nothing');
  let server: ChildProcess | undefined;
  try {
    const port = await freePort();
    server = spawnDashboard(targets.configFile, port, how.env);
    let output = '';
    server.stdout?.on(
      'data',
      (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)),
    );
    server.stderr?.on(
      'data',
      (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)),
    );
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`the server exited: ${output}`);
      const healthy = await fetch(`${url}/api/healthz`).then(
        (response) => response.ok,
        () => false,
      );
      if (healthy) break;
      if (Date.now() > deadline) throw new Error(`the server did not become healthy: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const settle = () => new Promise((resolve) => setTimeout(resolve, 5000));
    await settle();
    const rssMB = round((await rssOf(server.pid!)) / 1024 / 1024);
    const page = await fetch(`${url}/`);
    await page.arrayBuffer();
    await settle();
    const afterPageRssMB = round((await rssOf(server.pid!)) / 1024 / 1024);
    return { rssMB, afterPageRssMB, loadAverage: round(loadavg()[0] ?? 0) };
  } finally {
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    await targets.stop();
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
  const how = await collectorProcess();
  const entry = await workerEntry(how);
  log(
    `the collector runs ${how.build === 'bundle' ? 'compiled (esbuild bundle, plain Node.js)' : 'through tsx'} with ${JSON.stringify(how.env)}${how.flags.length ? ` and ${how.flags.join(' ')}` : ''}`,
  );
  const runs: ProbeScaleRun[] = [];
  let serverIdle: ServerIdle | null = null;
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
          how,
          entry,
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
          startPeakRssMB: round(result.startPeakRssBytes / 1024 / 1024),
          heapUsedMB: round(result.heapUsedBytes / 1024 / 1024),
          liveHeapMB: round(result.liveHeapBytes / 1024 / 1024),
          heapTotalMB: round(result.heapTotalBytes / 1024 / 1024),
          rssFileMB: result.rssFileBytes === null ? null : round(result.rssFileBytes / 1024 / 1024),
          heapSpaces: result.heapSpaces.map((space) => ({
            space: space.space,
            sizeMB: round(space.sizeBytes / 1024 / 1024),
            physicalMB: round(space.physicalBytes / 1024 / 1024),
            usedMB: round(space.usedBytes / 1024 / 1024),
            liveMB: round(space.liveBytes / 1024 / 1024),
          })),
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
          `${size}: start: listed ${run.start.listedMs} ms, connected half/all ${run.start.halfConnectedMs}/${run.start.connectedMs} ms, probed half/all ${run.start.halfProbedMs}/${run.start.probedMs} ms, published ${run.start.publishedMs} ms (the collector's CPU ${run.start.cpuMs} ms); handshake median/p99 ${run.start.handshakeMs.median}/${run.start.handshakeMs.p99} ms; the nodes' CPU ${run.nodesCpuPercentOfCoreAtStart} % of a core, loop delay p99/max ${run.start.nodesLoopDelayMs?.p99}/${run.start.nodesLoopDelayMs?.max} ms`,
        );
        log(
          `${size}: cycle median ${run.cycleMs.median} ms p99 ${run.cycleMs.p99} ms, to state ${run.cycleToStateMs.median}/${run.cycleToStateMs.p99} ms${run.overrun ? ' (overrun)' : ''}, first full state ${run.firstFullStateMs} ms, RSS ${run.rssMB} MB (${run.startPeakRssMB} MB at the start's peak; baseline ${run.baselineRssMB} MB, modules loaded ${run.modulesRssMB} MB with ${run.modulesHeapMB} MB of heap and ${run.modulesExternalMB} MB outside it; heap reserved at the end ${run.heapTotalMB} MB, mapped files ${run.rssFileMB} MB; live heap after the run ${run.liveHeapMB} MB, outside the heap ${run.externalMB} MB), CPU ${run.cpuPercentOfCore} % of a core (the nodes' ${run.nodesCpuPercentOfCore} %), load ${run.loadAverageBefore} → ${run.loadAverage}`,
        );
        log(
          `${size}: heap spaces at the end, reserved/resident/used → live after the GC (MB): ${run.heapSpaces
            .filter((space) => space.sizeMB > 0)
            .map(
              (space) =>
                `${space.space} ${space.sizeMB}/${space.physicalMB}/${space.usedMB} → ${space.liveMB}`,
            )
            .join(', ')}`,
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
    if (process.env.BEAMSCOPE_BENCH_SERVER_IDLE !== '0') {
      try {
        serverIdle = await measureServerIdle(dir, how, log);
        log(
          `the shipped server idle (Next's baseline): RSS ${serverIdle.rssMB} MB, ${serverIdle.afterPageRssMB} MB after serving the page once, load ${serverIdle.loadAverage}`,
        );
      } catch (error) {
        const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
        log(`the shipped server idle: not measured: ${message}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    if (how.build === 'bundle') await rm(dirname(entry.path), { recursive: true, force: true });
  }
  const atScale = runs.find((run) => run.size === 'sim1000');
  return {
    intervalMs: INTERVAL_MS,
    collector: how,
    runs,
    failures,
    serverIdle,
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
      serverIdleRssMB: plainFigure(
        "shipped server idle RSS (Next's baseline: the standalone server watching no nodes)",
        serverIdle?.rssMB ?? null,
        'MB',
      ),
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

if (process.argv[1] === SELF) {
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
