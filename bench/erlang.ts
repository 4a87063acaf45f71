/**
 * Distribution client and probe benchmark against real local BEAM nodes.
 *
 * Measures, for 1 node and for several: the time to connect (EPMD lookup + handshake), the
 * latency of one full probe (`runProbes`: the node catalogue and registry detection), and probe
 * throughput (probes per second, one probe in flight per node). Prints a summary and writes
 * `bench/results/erlang.json`.
 *
 * Run: `tsx --conditions=react-server bench/erlang.ts [--nodes 4] [--seconds 3]`
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { connectNode, type NodeConnection } from '../server/erlang';
import { describeError } from '../server/errors';
import { runProbes } from '../server/erlang/probes';
import { startBeamNode, type BeamNode } from '../test/support/beam';
import { summarize, type Summary } from './support/stats';

async function timed<T>(run: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const value = await run();
  return [performance.now() - started, value];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { nodes: { type: 'string', default: '4' }, seconds: { type: 'string', default: '3' } },
  });
  const nodeCount = Math.max(2, Number(values.nodes));
  const seconds = Math.max(1, Number(values.seconds));
  const cookie = `bench-${randomBytes(8).toString('hex')}`;
  const localName = `beamscope_bench_${process.pid}@127.0.0.1`;
  const nodes: BeamNode[] = [];
  const connections: NodeConnection[] = [];

  try {
    for (let index = 0; index < nodeCount; index += 1) {
      nodes.push(
        await startBeamNode({
          name: `bench${index}_${process.pid}@127.0.0.1`,
          cookie,
          connectTo: index === 0 ? [] : [nodes[0]!.name],
          evalOnStart: `beamscope_fixture:global_names("bench${index}", 20)`,
        }),
      );
    }

    // Connect: sequential connect + close to the first node.
    const connectSamples: number[] = [];
    for (let round = 0; round < 30; round += 1) {
      const [ms, connection] = await timed(() =>
        connectNode(nodes[0]!.name, { localName, cookie }),
      );
      connectSamples.push(ms);
      connection.close();
    }

    for (const node of nodes) connections.push(await connectNode(node.name, { localName, cookie }));

    // Latency of one full probe, sequential, against one node (after a warm-up).
    const rpc = connections[0]!.rpc.bind(connections[0]!);
    for (let round = 0; round < 5; round += 1) await runProbes(rpc);
    const probeSamples: number[] = [];
    for (let round = 0; round < 100; round += 1) {
      const [ms, report] = await timed(() => runProbes(rpc));
      if (Object.keys(report.errors).length > 0)
        throw new Error(`probe failed: ${JSON.stringify(report.errors)}`);
      probeSamples.push(ms);
    }

    // Throughput: each selected node probed back to back for `seconds`, all nodes at once.
    const throughput = async (selected: NodeConnection[]) => {
      const deadline = performance.now() + seconds * 1000;
      const latencies: number[] = [];
      await Promise.all(
        selected.map(async (connection) => {
          const call = connection.rpc.bind(connection);
          while (performance.now() < deadline)
            latencies.push((await timed(() => runProbes(call)))[0]);
        }),
      );
      return {
        nodes: selected.length,
        probesPerSecond: Math.round(latencies.length / seconds),
        latency: summarize(latencies),
      };
    };
    const single = await throughput(connections.slice(0, 1));
    const several = await throughput(connections);

    const results = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      connect: summarize(connectSamples),
      probeLatency: summarize(probeSamples),
      throughput: [single, several],
      notes:
        'beam nodes run with +S 1:1 on the same machine as the client; one probe = ~16 rpc calls',
    };
    const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
    await mkdir(resultsDir, { recursive: true });
    await writeFile(`${resultsDir}erlang.json`, `${JSON.stringify(results, null, 2)}\n`);

    const line = (label: string, summary: Summary) =>
      `${label.padEnd(28)} median ${summary.medianMs ?? '—'} ms  p99 ${summary.p99Ms ?? '—'} ms  (${summary.samples} samples)`;
    process.stdout.write(
      [
        line('connect (EPMD + handshake)', results.connect),
        line('one full probe', results.probeLatency),
        ...results.throughput.map(
          (entry) =>
            `${`throughput, ${entry.nodes} node(s)`.padEnd(28)} ${entry.probesPerSecond} probes/s ` +
            `(latency median ${entry.latency.medianMs} ms, p99 ${entry.latency.p99Ms} ms)`,
        ),
        'written to bench/results/erlang.json',
      ].join('\n') + '\n',
    );
  } finally {
    for (const connection of connections) connection.close();
    await Promise.all(nodes.map((node) => node.stop()));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${describeError(error)}\n`);
    process.exit(1);
  },
);
