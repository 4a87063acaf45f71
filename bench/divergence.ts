/**
 * The divergence scan at scale (the registries issue, "copies that disagree"): what comparing a
 * replicated registry's copies (`compareCopies`, server/collector/divergence.ts) costs when five
 * nodes each hold a Swarm-shaped copy of 100,000 names.
 *
 * Five real BEAM nodes in a full mesh (test/support/beam.ts), each with its `swarm_registry`
 * table; 100,000 names `<<"device-000001">>`… registered to waiting processes spread round robin
 * over the five (test/support/fixtures/erlang/beamscope_fixture.erl, `swarm_register_bulk/2`:
 * one insert per node). beamscope connects to each node as it does in the dashboard
 * (`connectNode`) and compares the five copies, in turn:
 *   - `agree`: every copy the same;
 *   - `missing`: 300 names (every 333rd) deleted from one copy, then put back;
 *   - `majorityOnly`: a healed 3 | 2 split where only the majority re-registered the names
 *     whose processes were on the other side (`swarm_takeover/2`): 40 % of the names point at
 *     two processes;
 *   - `healedSplit`: then the minority re-registers the majority's names too, so each side has
 *     re-registered the other side's names to its own processes: every name points at two
 *     processes, one per side, and the two groups of copies differ on every host.
 * Each case: one comparison to warm up, then `runs` measured ones. Per comparison: its time
 * (beamscope's clock around the call), beamscope's CPU time and the nodes', the bytes over
 * beamscope's five connections (`inet:getstat/2` on each node's distribution socket to
 * beamscope, read through the test node's own control channel, both directions summed), and
 * compareCopies' own counts of remote calls and keys shipped. compareCopies and connectNode are
 * compiled as the production build runs them, not with tsx's `keepNames` (support/bundled.ts).
 * What each comparison found is checked against what was built (a bench that compares the wrong
 * thing fast is no figure); the times are not asserted.
 *
 * Goals, for the healed split: ≤ 2 s (p99) and ≤ 5 MB (1 MB = 2^20 bytes) per comparison.
 *
 * Run alone: `tsx --conditions=react-server bench/divergence.ts [--runs 9] [--names 100000]`.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import type { compareCopies, CopyComparison } from '../server/collector/divergence';
import type { connectNode, NodeConnection } from '../server/erlang';
import { startBeamNode, type BeamNode } from '../test/support/beam';
import { importBundled } from './support/bundled';
import { goalFigure, plainFigure, type Figure } from './support/figures';
import { onInterrupt } from './support/lifecycle';
import { readNodeCounters, type NodeCounters } from './support/node-counters';
import { distribution, roundTo, summarize, type Distribution, type Summary } from './support/stats';

/** The server code measured, compiled as the production build runs it (support/bundled.ts). */
interface Server {
  compareCopies: typeof compareCopies;
  connectNode: typeof connectNode;
  PROBE_TIMEOUT_MS: number;
}
const SERVER_ENTRY = [
  "export { compareCopies } from './server/collector/divergence';",
  "export { connectNode } from './server/erlang/connect';",
  "export { PROBE_TIMEOUT_MS } from './server/erlang/probes';",
].join('\n');

const NODES = 5;
/** The split: the first three nodes against the last two. */
const MAJORITY = 3;
const MISSING_EVERY = 333;
const GOAL_MS = 2000;
const GOAL_MB = 5;
const MB = 1024 * 1024;
const KB = 1024;

/** One case: what the copies held and what comparing them cost. */
export interface DivergenceCase {
  what: string;
  runs: number;
  /** Wall time of one `compareCopies`, ms. */
  durationMs: Summary;
  /** beamscope's CPU time (user + system) during one comparison, ms. */
  beamscopeCpuMs: Summary;
  /** The nodes' CPU time during one comparison, summed over the five, ms (whole ms each). */
  nodesCpuMs: Summary;
  /** Bytes over beamscope's connections per comparison, summed over the nodes. */
  bytes: { toNodes: Distribution; fromNodes: Distribution; total: Distribution };
  /** compareCopies' own counts (the same every run). */
  calls: number;
  keysFetched: number;
  groups: number;
  hostsCompared: number;
  /** What it found. */
  missing: number;
  duplicates: number;
}

export interface DivergenceResults {
  nodes: number;
  names: number;
  timeoutMs: number;
  /** Building the copies, ms: the 100,000 names, and each side's re-registrations. */
  setupMs: { register: number; majorityTakeover: number; minorityTakeover: number };
  cases: {
    agree: DivergenceCase;
    missing: DivergenceCase;
    healedSplit: DivergenceCase;
    majorityOnly: DivergenceCase;
  };
  goals: { healedSplitMs: Figure; healedSplitMB: Figure };
  figures: Figure[];
}

export interface DivergenceOptions {
  /** Measured comparisons per case; default 9. */
  runs?: number;
  /** Names per copy; default 100,000. */
  names?: number;
  log?: (line: string) => void;
}

/** What a case must have found; anything else means the bench built the wrong copies. */
interface Expected {
  missing: number;
  duplicates: number;
  groups: number;
}

/** Runs the divergence bench; see the file comment. */
export async function runDivergenceBench(
  options: DivergenceOptions = {},
): Promise<DivergenceResults> {
  const runs = Math.max(3, options.runs ?? 9);
  const nameCount = Math.max(1000, options.names ?? 100_000);
  const log = (text: string) => {
    if (options.log) options.log(`divergence: ${text}`);
    else process.stderr.write(`divergence: ${text}\n`);
  };
  const cookie = `div-${randomBytes(8).toString('hex')}`;
  const localName = `beamscope_maint_divbench${process.pid}@127.0.0.1`;
  const nodes: BeamNode[] = [];
  const connections = new Map<string, NodeConnection>();
  const stop = async () => {
    for (const connection of connections.values()) connection.close();
    connections.clear();
    await Promise.all(nodes.splice(0).map((node) => node.stop()));
  };
  const unregister = onInterrupt(stop);
  try {
    const { compareCopies, connectNode, PROBE_TIMEOUT_MS } = await importBundled<Server>(
      'divergence',
      SERVER_ENTRY,
    );
    const started = Date.now();
    for (let index = 0; index < NODES; index += 1) {
      nodes.push(
        await startBeamNode({
          name: `divbench${index}_${process.pid}@127.0.0.1`,
          cookie,
          connectTo: nodes.map((node) => node.name),
          evalOnStart: 'beamscope_fixture:swarm_table()',
        }),
      );
    }
    const names = nodes.map((node) => node.name);
    const list = (of: BeamNode[]) => `[${of.map((node) => `'${node.name}'`).join(', ')}]`;
    const majority = nodes.slice(0, MAJORITY);
    const minority = nodes.slice(MAJORITY);
    log(`${NODES} nodes up in ${Date.now() - started} ms`);

    const timedEval = async (node: BeamNode, expression: string) => {
      const from = Date.now();
      const reply = await node.eval(expression, { timeoutMs: 300_000 });
      return { reply, ms: Date.now() - from };
    };
    const deviceNames = (seq: string) =>
      `[list_to_binary(io_lib:format("device-~6..0B", [I])) || I <- lists:seq(${seq})]`;
    const register = await timedEval(
      nodes[0]!,
      `beamscope_fixture:swarm_register_bulk(${deviceNames(`1, ${nameCount}`)}, ${list(nodes)})`,
    );
    for (const node of nodes) {
      const size = Number(await node.eval('ets:info(swarm_registry, size)'));
      if (size !== nameCount) throw new Error(`${node.name} holds ${size} names, not ${nameCount}`);
    }
    log(`${nameCount} names on each of ${NODES} copies in ${register.ms} ms`);

    for (const node of nodes) {
      connections.set(node.name, await connectNode(node.name, { localName, cookie }));
    }
    const rpcOf = (node: string) => {
      const connection = connections.get(node)!;
      return connection.rpc.bind(connection);
    };
    const compare = async (): Promise<CopyComparison> => {
      const result = await compareCopies(rpcOf, 'swarm', names, { timeoutMs: PROBE_TIMEOUT_MS });
      if (!result) throw new Error('compareCopies found no copies to compare');
      return result;
    };

    const measure = async (what: string, expected: Expected): Promise<DivergenceCase> => {
      const first = await compare();
      const found = { missing: first.missing.count, duplicates: first.duplicates.count };
      if (
        found.missing !== expected.missing ||
        found.duplicates !== expected.duplicates ||
        first.groups !== expected.groups
      ) {
        throw new Error(
          `${what}: found ${JSON.stringify({ ...found, groups: first.groups })}, built ${JSON.stringify(expected)}`,
        );
      }
      const times: number[] = [];
      const cpu: number[] = [];
      const nodesCpu: number[] = [];
      const toNodes: number[] = [];
      const fromNodes: number[] = [];
      let last = first;
      for (let run = 0; run < runs; run += 1) {
        const before = await Promise.all(nodes.map((node) => readNodeCounters(node, localName)));
        const cpuBefore = process.cpuUsage();
        const from = performance.now();
        last = await compare();
        times.push(performance.now() - from);
        const used = process.cpuUsage(cpuBefore);
        cpu.push((used.user + used.system) / 1000);
        const after = await Promise.all(nodes.map((node) => readNodeCounters(node, localName)));
        const sum = (of: (counters: NodeCounters, index: number) => number) =>
          after.reduce((total, counters, index) => total + of(counters, index), 0);
        nodesCpu.push(sum((counters, index) => counters.cpuMs - before[index]!.cpuMs));
        toNodes.push(sum((counters, index) => counters.received - before[index]!.received));
        fromNodes.push(sum((counters, index) => counters.sent - before[index]!.sent));
      }
      const total = toNodes.map((bytes, index) => bytes + fromNodes[index]!);
      const result: DivergenceCase = {
        what,
        runs,
        durationMs: summarize(times),
        beamscopeCpuMs: summarize(cpu),
        nodesCpuMs: summarize(nodesCpu),
        bytes: {
          toNodes: distribution(toNodes, 0),
          fromNodes: distribution(fromNodes, 0),
          total: distribution(total, 0),
        },
        calls: last.calls,
        keysFetched: last.keysFetched,
        groups: last.groups,
        hostsCompared: last.hostsCompared,
        missing: last.missing.count,
        duplicates: last.duplicates.count,
      };
      log(
        `${what}: ${result.durationMs.medianMs} ms median, ${result.durationMs.p99Ms} ms p99 (CPU: beamscope ${result.beamscopeCpuMs.medianMs} ms, nodes ${result.nodesCpuMs.medianMs} ms); ${roundTo(result.bytes.total.median / MB, 2)} MB; ${result.calls} calls, ${result.keysFetched} keys; ${result.missing} missing, ${result.duplicates} duplicates`,
      );
      return result;
    };

    const agree = await measure('copies that agree', { missing: 0, duplicates: 0, groups: 1 });

    // A few hundred names lost by one copy (the last node's), spread over every host.
    const lost = deviceNames(`${MISSING_EVERY}, ${nameCount}, ${MISSING_EVERY}`);
    const lostCount = Math.floor(nameCount / MISSING_EVERY);
    await nodes
      .at(-1)!
      .eval(`length([ets:delete(swarm_registry, Name) || Name <- ${lost}])`, { timeoutMs: 60_000 });
    const missing = await measure(`${lostCount} names missing on one copy`, {
      missing: lostCount,
      duplicates: 0,
      groups: 2,
    });
    await nodes
      .at(-1)!
      .eval(
        `length([ets:insert(swarm_registry, rpc:call('${nodes[0]!.name}', ets, lookup, [swarm_registry, Name])) || Name <- ${lost}])`,
        { timeoutMs: 60_000 },
      );

    // The split heals: the majority had re-registered the minority's names to its processes.
    const majorityTakeover = await timedEval(
      nodes[0]!,
      `beamscope_fixture:swarm_takeover(${list(minority)}, ${list(majority)})`,
    );
    const minorityShare = Number(majorityTakeover.reply);
    const majorityOnly = await measure('healed 3 | 2 split, the majority re-registered', {
      missing: 0,
      duplicates: minorityShare,
      groups: 2,
    });
    // And the minority had re-registered the majority's names to its own.
    const minorityTakeover = await timedEval(
      nodes[MAJORITY]!,
      `beamscope_fixture:swarm_takeover(${list(majority)}, ${list(minority)})`,
    );
    log(
      `re-registered ${minorityShare} names on the majority (${majorityTakeover.ms} ms), ${minorityTakeover.reply} on the minority (${minorityTakeover.ms} ms)`,
    );
    const healedSplit = await measure('healed 3 | 2 split, each side re-registered', {
      missing: 0,
      duplicates: nameCount,
      groups: 2,
    });

    const label = (what: string) =>
      `compare ${NODES} copies of ${nameCount.toLocaleString('en-US')} names, ${what}`;
    const split = label('healed 3 | 2 split');
    return {
      nodes: NODES,
      names: nameCount,
      timeoutMs: PROBE_TIMEOUT_MS,
      setupMs: {
        register: register.ms,
        majorityTakeover: majorityTakeover.ms,
        minorityTakeover: minorityTakeover.ms,
      },
      cases: { agree, missing, healedSplit, majorityOnly },
      goals: {
        healedSplitMs: goalFigure(
          `${split}: time (p99)`,
          healedSplit.durationMs.p99Ms,
          GOAL_MS,
          'ms',
          runs,
        ),
        healedSplitMB: goalFigure(
          `${split}: bytes (p99)`,
          roundTo(healedSplit.bytes.total.p99 / MB, 2),
          GOAL_MB,
          'MB',
          runs,
        ),
      },
      figures: [
        plainFigure(`${split}: time (median)`, healedSplit.durationMs.medianMs, 'ms', runs),
        plainFigure(`${split}: remote calls`, healedSplit.calls, 'calls'),
        plainFigure(`${split}: keys shipped`, healedSplit.keysFetched, 'keys'),
        plainFigure(
          `${label('the majority only re-registered')}: time (median)`,
          majorityOnly.durationMs.medianMs,
          'ms',
          runs,
        ),
        plainFigure(
          `${label('the majority only re-registered')}: bytes (median)`,
          roundTo(majorityOnly.bytes.total.median / MB, 2),
          'MB',
          runs,
        ),
        plainFigure(
          `${label(`${lostCount} missing on one`)}: time (median)`,
          missing.durationMs.medianMs,
          'ms',
          runs,
        ),
        plainFigure(
          `${label(`${lostCount} missing on one`)}: bytes (median)`,
          roundTo(missing.bytes.total.median / MB, 2),
          'MB',
          runs,
        ),
        plainFigure(
          `${label(`${lostCount} missing on one`)}: keys shipped`,
          missing.keysFetched,
          'keys',
        ),
        plainFigure(`${label('all agree')}: time (median)`, agree.durationMs.medianMs, 'ms', runs),
        plainFigure(
          `${label('all agree')}: bytes (median)`,
          roundTo(agree.bytes.total.median / KB, 1),
          'KB',
          runs,
        ),
      ],
    };
  } finally {
    unregister();
    await stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '9' },
      names: { type: 'string', default: '100000' },
    },
  });
  const results = await runDivergenceBench({
    runs: Number(values.runs),
    names: Number(values.names),
  });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
