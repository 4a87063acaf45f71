/**
 * ConnectionManager against real nodes: tracking, reconnecting after a node restarts, a frozen
 * node, a wrong cookie, and epmd-less nodes sharing one basename and port on two addresses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { atom } from '@/server/erlang/codec';
import { ConnectionManager } from '@/server/erlang/manager';

import { startBeamNode, type BeamNode } from '../../support/beam';
import { waitForState } from '../../support/connections';

const COOKIE = `mgr_cookie_${process.pid}`;
const tag = process.pid;
const LOCAL = `beamscope_mg${tag.toString(16).slice(-4)}@127.0.0.1`;

const nodes: BeamNode[] = [];
const managers: ConnectionManager[] = [];

async function start(options: Parameters<typeof startBeamNode>[0]): Promise<BeamNode> {
  const node = await startBeamNode(options);
  nodes.push(node);
  return node;
}

function manager(options: Partial<ConstructorParameters<typeof ConnectionManager>[0]> = {}) {
  const created = new ConnectionManager({
    localName: LOCAL,
    cookie: COOKIE,
    backoff: { initialMs: 100, maxMs: 400 },
    ...options,
  });
  managers.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(managers.splice(0).map((created) => created.close()));
});

afterAll(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

describe('ConnectionManager with real nodes', () => {
  it('tracks two nodes, reconnects one after it is killed and restarted', async () => {
    const a = await start({ name: `ma_${tag}@127.0.0.1`, cookie: COOKIE });
    const b = await start({ name: `mb_${tag}@127.0.0.1`, cookie: COOKIE, connectTo: [a.name] });
    const subject = manager();
    const statuses: string[] = [];
    subject.on('state', (node, state) => {
      if (node === b.name)
        statuses.push('code' in state ? `${state.status}:${state.code}` : state.status);
    });
    subject.track([a.name, b.name]);
    await waitForState(subject, a.name, 'connected');
    await waitForState(subject, b.name, 'connected');
    expect(await subject.rpc(a.name, 'erlang', 'nodes', [])).toEqual([atom(b.name)]);
    expect(
      await Promise.all([1, 2, 3].map(() => subject.rpc(b.name, 'erlang', 'node', []))),
    ).toEqual([atom(b.name), atom(b.name), atom(b.name)]);

    b.kill('SIGKILL');
    const down = await waitForState(subject, b.name, 'unreachable');
    expect(down).toMatchObject({ code: 'node_down' });
    const restarted = await start({ name: b.name, cookie: COOKIE });
    await waitForState(subject, b.name, 'connected');
    expect(await subject.rpc(restarted.name, 'erlang', 'node', [])).toBe(atom(b.name));
    expect(statuses[0]).toBe('connecting');
    expect(statuses).toContain('unreachable:node_down');
    expect(statuses.at(-1)).toBe('connected');
    // The other node was never disturbed.
    expect(subject.state(a.name).status).toBe('connected');
  });

  it('a frozen node times out; after SIGCONT calls work again', async () => {
    const node = await start({ name: `mf_${tag}@127.0.0.1`, cookie: COOKIE });
    const subject = manager();
    subject.track([node.name]);
    await waitForState(subject, node.name, 'connected');
    node.kill('SIGSTOP');
    await waitUntilStopped(node.pid);
    try {
      await expect(
        subject.rpc(node.name, 'erlang', 'node', [], { timeoutMs: 400 }),
      ).rejects.toMatchObject({
        code: 'timeout',
      });
    } finally {
      node.kill('SIGCONT');
    }
    const deadline = Date.now() + 10_000;
    let reply: unknown;
    while (Date.now() < deadline) {
      reply = await subject
        .rpc(node.name, 'erlang', 'node', [], { timeoutMs: 1000 })
        .catch(() => undefined);
      if (reply) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(reply).toBe(atom(node.name));
  });

  it('a wrong cookie puts the node in auth_failed', async () => {
    const node = await start({ name: `mw_${tag}@127.0.0.1`, cookie: COOKIE });
    const subject = manager({
      cookie: 'not_the_cookie',
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    subject.track([node.name]);
    const state = await waitForState(subject, node.name, 'auth_failed');
    expect(state).toMatchObject({ code: 'auth_failed' });
    expect('reason' in state && state.reason).toContain(`node ${node.name} rejected the cookie`);
    expect(JSON.stringify(state)).not.toContain('not_the_cookie');
  });

  it('epmd-less: one basename on two addresses sharing one port', async () => {
    const port = await freePort('127.0.0.2');
    const first = await start({
      name: `app_${tag}@127.0.0.2`,
      cookie: COOKIE,
      mode: 'epmdless',
      port,
    });
    const second = await start({
      name: `app_${tag}@127.0.0.3`,
      cookie: COOKIE,
      mode: 'epmdless',
      port,
    });
    const subject = manager({ port });
    subject.track([first.name, second.name]);
    await waitForState(subject, first.name, 'connected');
    await waitForState(subject, second.name, 'connected');
    expect(await subject.rpc(first.name, 'erlang', 'node', [])).toBe(atom(first.name));
    expect(await subject.rpc(second.name, 'erlang', 'node', [])).toBe(atom(second.name));
  });
});

async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * SIGSTOP takes effect asynchronously (a thread running on another core stops a moment later):
 * wait until every thread of the emulator is stopped, so the test does not race the signal.
 */
async function waitUntilStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const states = readdirSync(`/proc/${pid}/task`).map(
      (task) => /\) (\S)/.exec(readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8'))?.[1],
    );
    if (states.every((state) => state === 'T' || state === 't')) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop: ${states.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
