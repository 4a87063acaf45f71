/**
 * Do no harm to a Swarm cluster. Swarm's tracker builds its hash ring from
 * `Node.list(:connected)`, hidden nodes included, when it (re)starts, leaving out only the names
 * it always ignores. These tests hold beamscope's connections to a real node through a restart of
 * a Swarm-like tracker (the sandbox's server/sandbox/beam/erlang/myapp_swarm_ring.erl) and check who ends
 * up in the ring: never beamscope, while a hidden node under any other name does (the harm).
 */
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectNode } from '@/server/erlang/connect';
import type { NodeConnection } from '@/server/erlang/connection';
import { ConnectionManager } from '@/server/erlang/manager';
import { defaultLocalNodeName } from '@/server/erlang/node-name';
import { runProbes } from '@/server/erlang/probes';
import { compileDemoApp, DEMO_APP_SOURCE_DIR } from '@/server/sandbox/beam/demo-app';

import { startBeamNode, type BeamNode } from '../../support/beam';

const COOKIE = `ring_cookie_${process.pid}`;
const KEYS = Array.from({ length: 30 }, (_, index) => `device-${String(index).padStart(5, '0')}`);

describe("Swarm's hash ring with beamscope connected", () => {
  let a: BeamNode;
  let b: BeamNode;

  beforeAll(async () => {
    const sandboxEbin = await compileDemoApp(DEMO_APP_SOURCE_DIR, join('.beamscope', 'cache'));
    a = await startBeamNode({
      name: `ring_a_${process.pid}@127.0.0.1`,
      cookie: COOKIE,
      evalOnStart: 'myapp_swarm_ring:start()',
      codePaths: [sandboxEbin],
    });
    b = await startBeamNode({
      name: `ring_b_${process.pid}@127.0.0.1`,
      cookie: COOKIE,
      connectTo: [a.name],
      evalOnStart: 'myapp_swarm_ring:start()',
      codePaths: [sandboxEbin],
    });
    // a's tracker heard b come up before b's tracker ran (Swarm would retry later): a restart
    // builds a's ring from the connected nodes, as at any tracker start.
    expect(compact(await a.eval('myapp_swarm_ring:restart()'))).toBe(ring(a.name, b.name));
  });

  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((node) => node.stop()));
  });

  /** A ring as the tracker prints it (`lists:usort`, `~p`), white space removed. */
  function ring(...names: string[]): string {
    return `[${names
      .sort()
      .map((name) => `'${name}'`)
      .join(',')}]`;
  }

  /** Who the tracker on `node` would place each of {@link KEYS} on. */
  async function owners(node: BeamNode): Promise<string[]> {
    const list = KEYS.map((key) => `myapp_swarm_ring:owner(<<"${key}">>)`).join(', ');
    const printed = await node.eval(`[${list}]`);
    return printed
      .replace(/[[\]\s']/g, '')
      .split(',')
      .filter(Boolean);
  }

  async function hiddenNodesOf(node: BeamNode): Promise<string> {
    return node.eval('lists:sort(nodes(hidden))');
  }

  it('a hidden node under any other name enters the ring at a restart: the harm guarded against', async () => {
    const observer = `observer_${process.pid}@127.0.0.1`;
    const connection = await connectNode(a.name, { localName: observer, cookie: COOKIE });
    try {
      expect(await hiddenNodesOf(a)).toContain(observer);
      expect(compact(await a.eval('myapp_swarm_ring:restart()'))).toBe(
        ring(a.name, b.name, observer),
      );
      // Some of 30 registrations would now be placed on a node that cannot host them.
      const placed = await owners(a);
      expect(placed.filter((owner) => owner === observer).length).toBeGreaterThan(0);
    } finally {
      connection.close();
      await waitFor(async () => !(await hiddenNodesOf(a)).includes(observer));
      await a.eval('myapp_swarm_ring:restart()');
    }
  });

  it("beamscope's server and command-line names stay out of the ring through a restart", async () => {
    const server = new ConnectionManager({ cookie: COOKIE });
    let cli: NodeConnection | undefined;
    try {
      expect(server.localName).toBe(defaultLocalNodeName('server'));
      // A full probe run over each connection, as the dashboard and `beamscope probe` make.
      await runProbes((module, fn, args, options) => server.rpc(a.name, module, fn, args, options));
      cli = await connectNode(a.name, { localName: defaultLocalNodeName('cli'), cookie: COOKIE });
      await runProbes(cli.rpc.bind(cli));
      const hidden = await hiddenNodesOf(a);
      expect(hidden).toContain(defaultLocalNodeName('server'));
      expect(hidden).toContain(defaultLocalNodeName('cli'));

      expect(compact(await a.eval('myapp_swarm_ring:restart()'))).toBe(ring(a.name, b.name));
      const placed = await owners(a);
      expect(new Set(placed)).toEqual(new Set([a.name, b.name]));
      // Still connected: the ring left beamscope out while it was there.
      expect(await hiddenNodesOf(a)).toContain(defaultLocalNodeName('server'));
    } finally {
      cli?.close();
      await server.close();
    }
  });
});

/** `~p` output with its line breaks and indentation removed (node names hold no spaces). */
function compact(printed: string): string {
  return printed.replace(/\s+/g, '');
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
