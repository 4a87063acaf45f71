/**
 * Code scans at scale (issue 18, item 3): every node's applications and the md5 of each of its
 * loaded modules, read in chunks, across 1,000 simulated nodes of 5,000 modules each (3 of every
 * 7 on a second build where one module differs), through beamscope's own connection manager and
 * the collector's scan scheduler (`server/collector/code-scans.ts`), then the skew computed from
 * what they found. The nodes run in a child process (test/support/sim-node), so this process's
 * CPU is beamscope's: the connections, the calls, decoding the replies, hashing the code sets.
 *
 * Figures: the wall time to scan every node (goal ≤ 10 s), beamscope's CPU per node per scan
 * (goal ≤ 5 ms; its worst round too), one node's scan from first call to last reply (median and
 * p99), the skew computation's time, and how many scans came back incomplete.
 *
 * Run alone: `tsx --conditions=react-server bench/code-scan.ts [--nodes 1000] [--modules 5000]`.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

import { codeSkewOf, moduleSkewLine } from '../lib/code-skew';
import { CodeScans, DEFAULT_CODE_SCAN } from '../server/collector/code-scans';
import { mapAddress } from '../server/erlang/address-map';
import { ConnectionManager } from '../server/erlang/manager';
import { ModuleListCache, scanCode, type CodeScanResult } from '../server/erlang/probes';
import {
  simulatedAddresses,
  simulatedAddressMap,
  startSimulatedClusterProcess,
} from '../test/support/sim-node';
import { freePort } from '../test/support/ports';
import { goalFigure, plainFigure, type Figure } from './support/figures';
import { quantile, roundTo } from './support/stats';

export interface CodeScanBenchOptions {
  nodes?: number;
  modules?: number;
  /** Full rounds of scans over every node; default 3 (the first warms the connections). */
  rounds?: number;
  log?: (line: string) => void;
}

export interface CodeScanBenchResult {
  nodes: number;
  modulesPerNode: number;
  loadAverage: number;
  concurrency: number;
  chunkSize: number;
  /** Wall time to scan every node once, per measured round. */
  roundsMs: number[];
  figures: Figure[];
  notes: string[];
}

const SECOND = 30;

/** Scans every node once with the collector's scheduler; resolves with each node's result. */
async function scanRound(
  nodes: readonly string[],
  manager: ConnectionManager,
): Promise<{
  wallMs: number;
  cpuMs: number;
  scanMs: number[];
  results: Map<string, CodeScanResult>;
}> {
  const results = new Map<string, CodeScanResult>();
  // Each node's scan from its first call to its last reply (8 run at once, so this is latency,
  // not CPU).
  const scanMs: number[] = [];
  // One per round, as one collector's: the first node of each build reads its module lists.
  const moduleLists = new ModuleListCache();
  let done = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const scans = new CodeScans(
    DEFAULT_CODE_SCAN,
    async (node) => {
      const scanStarted = performance.now();
      const result = await scanCode(
        (module, fn, args, options) => manager.rpc(node, module, fn, args, options),
        { chunkSize: DEFAULT_CODE_SCAN.chunkSize, timeoutMs: 30_000, moduleLists },
      );
      scanMs.push(performance.now() - scanStarted);
      results.set(node, result);
      return result;
    },
    () => {
      done += 1;
      if (done === nodes.length) finish();
    },
    Date.now,
  );
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const node of nodes) scans.observe(node, 1);
  await finished;
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000, scanMs, results };
}

export async function runCodeScanBench(
  options: CodeScanBenchOptions = {},
): Promise<CodeScanBenchResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const nodeCount = options.nodes ?? 1000;
  const modules = options.modules ?? 5000;
  const rounds = Math.max(2, options.rounds ?? 3);
  const cookie = randomBytes(12).toString('hex');
  const port = await freePort();
  const addresses = simulatedAddresses(nodeCount, SECOND);
  const addressMap = simulatedAddressMap(SECOND);
  log(`code-scan: starting ${nodeCount} simulated nodes of ${modules} modules`);
  const sim = await startSimulatedClusterProcess({
    addresses,
    port,
    cookie,
    basename: 'bench',
    addressMap,
    code: { modules, applications: 40, variantEvery: 7, variantCount: 3, variantModules: 1 },
  });
  // 3 of every 7: nodes 4, 5 and 6 of each seven run the second build.
  const manager = new ConnectionManager({
    localName: `beamscope_codescan${process.pid}@127.0.0.1`,
    cookie,
    port,
    dialHost: (host) => mapAddress(host, addressMap),
  });
  try {
    manager.track(sim.nodes);
    const deadline = Date.now() + 120_000;
    while (sim.nodes.some((node) => manager.state(node).status !== 'connected')) {
      if (Date.now() > deadline) throw new Error('not every simulated node connected in 120 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    log('code-scan: connected; scanning');
    const measured: Array<{ wallMs: number; cpuMs: number; scanMs: number[] }> = [];
    let last: Map<string, CodeScanResult> | undefined;
    for (let round = 0; round < rounds; round += 1) {
      const outcome = await scanRound(sim.nodes, manager);
      last = outcome.results;
      if (round > 0) measured.push(outcome);
      log(
        `code-scan: round ${round + 1}: ${Math.round(outcome.wallMs)} ms wall, ${roundTo(outcome.cpuMs / nodeCount, 2)} ms CPU per node${round === 0 ? ' (warm-up)' : ''}`,
      );
    }
    const results = last!;
    const incomplete = [...results.values()].filter(
      (result) => result.error !== null || result.modules.length !== modules,
    ).length;
    // The skew from the scans: two code sets, one module off on 3 of every 7 nodes.
    const sets = new Map(
      [...results.values()].map((result) => [
        result.signature,
        { modules: result.modules, md5s: result.md5s },
      ]),
    );
    const nodeCodes = [...results].map(([node, result]) => ({
      node,
      signature: result.signature,
      applications: result.applications,
    }));
    const skewTimes: number[] = [];
    let line = '';
    for (let round = 0; round < 10; round += 1) {
      const started = performance.now();
      const skew = codeSkewOf(nodeCodes, sets);
      skewTimes.push(performance.now() - started);
      line = skew?.modules[0] ? moduleSkewLine(skew.modules[0]) : 'no skew';
    }
    const walls = measured.map((entry) => entry.wallMs);
    const cpuPerNode = measured.map((entry) => entry.cpuMs / nodeCount);
    const scanTimes = measured.flatMap((entry) => entry.scanMs);
    const stats = await sim.stats();
    return {
      nodes: nodeCount,
      modulesPerNode: modules,
      loadAverage: roundTo(loadavg()[0]!, 2),
      concurrency: DEFAULT_CODE_SCAN.concurrency,
      chunkSize: DEFAULT_CODE_SCAN.chunkSize,
      roundsMs: walls.map((wall) => Math.round(wall)),
      figures: [
        goalFigure(
          `scan ${nodeCount.toLocaleString('en-US')} nodes × ${modules.toLocaleString('en-US')} modules (wall, median)`,
          Math.round(quantile(walls, 0.5) ?? NaN),
          10_000,
          'ms',
          walls.length,
        ),
        goalFigure(
          'beamscope CPU per node per scan (median of rounds)',
          roundTo(quantile(cpuPerNode, 0.5) ?? NaN, 2),
          5,
          'ms',
          cpuPerNode.length,
        ),
        plainFigure(
          'beamscope CPU per node per scan (worst round)',
          roundTo(Math.max(...cpuPerNode), 2),
          'ms',
          cpuPerNode.length,
        ),
        plainFigure(
          "one node's scan, first call to last reply (median)",
          roundTo(quantile(scanTimes, 0.5) ?? NaN, 1),
          'ms',
          scanTimes.length,
        ),
        plainFigure(
          "one node's scan, first call to last reply (p99)",
          roundTo(quantile(scanTimes, 0.99) ?? NaN, 1),
          'ms',
          scanTimes.length,
        ),
        plainFigure(
          `skew of ${nodeCount.toLocaleString('en-US')} scans, two code sets (median)`,
          roundTo(quantile(skewTimes, 0.5) ?? NaN, 2),
          'ms',
          skewTimes.length,
        ),
        plainFigure('scans incomplete (errors or short)', incomplete, 'nodes'),
      ],
      notes: [
        `concurrency ${DEFAULT_CODE_SCAN.concurrency} nodes, ${DEFAULT_CODE_SCAN.chunkSize} modules per md5 call; simulated nodes in a child process (its CPU is not counted: ${Math.round(stats.cpuMicros / 1000)} ms in all)`,
        `skew found: ${line}`,
      ],
    };
  } finally {
    await manager.close();
    await sim.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { nodes: { type: 'string' }, modules: { type: 'string' }, rounds: { type: 'string' } },
  });
  runCodeScanBench({
    ...(values.nodes ? { nodes: Number(values.nodes) } : {}),
    ...(values.modules ? { modules: Number(values.modules) } : {}),
    ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
  }).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
