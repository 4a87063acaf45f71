/**
 * The collector's memory at scale (issue 16, item 2): `count` simulated nodes forming one whole
 * mesh (test/support/sim-node, in a child process with the emulated Kubernetes API), watched by
 * the real collector in this process; prints RSS and heap used every few seconds, and writes a
 * heap snapshot at the end when `--snapshot DIR` is given.
 *
 * V8's heap settings are its defaults here, as in the server; `--heap-growing-percent=50` shows
 * what a tighter heap growth would do (docs/performance.md, "V8's growing factor").
 *
 * Beside memory it prints how many calls are in flight by function (a backlog of calls is memory
 * held until they end) and how often a node's peer list kept its identity between probes.
 *
 * Run (the project's Node 22): `node_modules/.bin/node --expose-gc --import tsx
 *   --conditions=react-server bench/collector-memory.ts [--members 600] [--seconds 120]
 *   [--snapshot DIR]`
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';

import { freePort } from '../test/support/ports';
import {
  simulatedAddresses,
  simulatedAddressMap,
  startSimulatedClusterProcess,
} from '../test/support/sim-node';
import { writeSimulatedClusterConfig } from './support/sim-config';

const { values } = parseArgs({
  options: {
    members: { type: 'string', default: '600' },
    seconds: { type: 'string', default: '120' },
    snapshot: { type: 'string' },
  },
});
const members = Number(values.members);
const seconds = Number(values.seconds);

const MB = (bytes: number) => Math.round(bytes / 1e6);

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'beamscope-collector-memory-'));
  const port = await freePort();
  const cookie = randomBytes(16).toString('hex');
  const sim = await startSimulatedClusterProcess({
    addresses: simulatedAddresses(members, 12),
    addressMap: simulatedAddressMap(12),
    port,
    cookie,
    basename: 'myapp',
    kubeApi: { tls: true },
  });
  const configFile = await writeSimulatedClusterConfig({
    api: sim.api!,
    cookie,
    port,
    addressMap: simulatedAddressMap(12),
    dir,
  });
  const [{ loadConfig }, { startClusterCollector }] = await Promise.all([
    import('../server/config'),
    import('../server/collector'),
  ]);
  const config = await loadConfig(configFile);
  // Calls in flight, by function: a backlog of them is memory held until they end.
  const { NodeConnection } = await import('../server/erlang/connection');
  const rpc = NodeConnection.prototype.rpc;
  const inFlight = new Map<string, number>();
  NodeConnection.prototype.rpc = function (
    this: InstanceType<typeof NodeConnection>,
    module,
    fn,
    args,
    options,
  ) {
    const what = `${module}:${fn}`;
    inFlight.set(what, (inFlight.get(what) ?? 0) + 1);
    return rpc.call(this, module, fn, args, options).finally(() => {
      inFlight.set(what, inFlight.get(what)! - 1);
    });
  };
  // How often a node's peer list keeps its identity from one probe to the next.
  const { PeerLists } = await import('../server/collector/report');
  const seesOf = PeerLists.prototype.sees;
  const peerLists = { same: 0, changed: 0, fresh: 0 };
  PeerLists.prototype.sees = function (
    this: InstanceType<typeof PeerLists>,
    node,
    previous,
    names,
  ) {
    const result = seesOf.call(this, node, previous, names);
    if (previous === null) peerLists.fresh += 1;
    else if (result === previous) peerLists.same += 1;
    else peerLists.changed += 1;
    return result;
  };
  const upstream = await startClusterCollector(config.clusters[0]!, {
    localName: `memory_${process.pid}@127.0.0.1`,
  });
  let deltas = 0;
  upstream.collector.subscribe((message) => {
    if (message.type === 'delta') deltas += 1;
  });
  const started = Date.now();
  try {
    while (Date.now() - started < seconds * 1000) {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const nodes = upstream.source.members().flatMap((member) => member.beamNode ?? []);
      const connected = nodes.filter(
        (node) => upstream.manager?.state(node).status === 'connected',
      ).length;
      const usage = process.memoryUsage();
      console.log(
        JSON.stringify({
          s: Math.round((Date.now() - started) / 1000),
          connected,
          deltas,
          peerLists,
          inFlight: Object.fromEntries([...inFlight].filter(([, count]) => count > 0)),
          rssMB: MB(usage.rss),
          heapUsedMB: MB(usage.heapUsed),
          heapTotalMB: MB(usage.heapTotal),
          externalMB: MB(usage.external),
          arrayBuffersMB: MB(usage.arrayBuffers),
        }),
      );
    }
    if (values.snapshot) {
      (globalThis as { gc?: () => void }).gc?.();
      const usage = process.memoryUsage();
      console.log(
        JSON.stringify({
          afterGc: true,
          rssMB: MB(usage.rss),
          heapUsedMB: MB(usage.heapUsed),
          heapTotalMB: MB(usage.heapTotal),
          externalMB: MB(usage.external),
          arrayBuffersMB: MB(usage.arrayBuffers),
        }),
      );
      console.log(writeHeapSnapshot(join(values.snapshot, `collector-${members}.heapsnapshot`)));
    }
  } finally {
    await upstream.stop();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
