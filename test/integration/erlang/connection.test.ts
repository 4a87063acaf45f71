/**
 * The distribution client against real OTP 25 nodes: EPMD and epmd-less, rpc, errors, a node
 * killed mid-call and a node frozen with SIGSTOP.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { atom, Tuple, type Term } from '@/server/erlang/codec';
import { connectNode, type ConnectOptions } from '@/server/erlang/connect';
import type { NodeConnection } from '@/server/erlang/connection';
import { BeamscopeError } from '@/server/errors';

import { startBeamNode, type BeamNode } from '../../support/beam';

const COOKIE = `conn_cookie_${process.pid}`;
const LOCAL = `beamscope_it${process.pid.toString(16).slice(-4)}@127.0.0.1`;
const tag = process.pid;

const nodes: BeamNode[] = [];
const connections: NodeConnection[] = [];
const servers: Server[] = [];

async function start(options: Parameters<typeof startBeamNode>[0]): Promise<BeamNode> {
  const node = await startBeamNode(options);
  nodes.push(node);
  return node;
}

async function connect(
  target: string,
  options: Partial<ConnectOptions> = {},
): Promise<NodeConnection> {
  const connection = await connectNode(target, { localName: LOCAL, cookie: COOKIE, ...options });
  connections.push(connection);
  return connection;
}

async function caught(promise: Promise<unknown>): Promise<BeamscopeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(BeamscopeError);
    return error as BeamscopeError;
  }
  throw new Error('expected a rejection');
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

afterAll(async () => {
  for (const connection of connections) connection.close();
  for (const server of servers) server.close();
  await Promise.all(nodes.map((node) => node.stop()));
});

describe('EPMD mode, a two-node cluster', () => {
  let a: BeamNode;
  let b: BeamNode;

  beforeAll(async () => {
    a = await start({ name: `ca_${tag}@127.0.0.1`, cookie: COOKIE });
    b = await start({ name: `cb_${tag}@127.0.0.1`, cookie: COOKIE, connectTo: [a.name] });
  });

  it('connects as a hidden node and runs erlang:node/0 and erlang:nodes/0', async () => {
    const connection = await connect(a.name);
    expect(connection.node).toBe(a.name);
    expect(await connection.rpc('erlang', 'node', [])).toBe(atom(a.name));
    expect(await connection.rpc('erlang', 'nodes', [])).toEqual([atom(b.name)]);
    // Hidden: the node lists us only among hidden connections.
    expect(await a.eval('nodes()')).toBe(`['${b.name}']`);
    expect(await a.eval('nodes(hidden)')).toBe(`['${LOCAL}']`);
  });

  it('passes arguments and returns structured terms', async () => {
    const connection = await connect(b.name);
    const reply = await connection.rpc('erlang', 'list_to_tuple', [
      [1, atom('two'), Buffer.from('three')],
    ]);
    expect(reply).toBeInstanceOf(Tuple);
    const [one, two, three] = (reply as Tuple).elements;
    expect([one, two]).toEqual([1, atom('two')]);
    expect(three).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(three as Uint8Array).toString()).toBe('three');
  });

  it('shares one connection between concurrent calls', async () => {
    const connection = await connect(b.name);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, index) => connection.rpc('erlang', 'abs', [-index])),
    );
    expect(replies).toEqual(Array.from({ length: 20 }, (_, index) => index));
  });

  it('a remote exception is a typed badrpc error', async () => {
    const connection = await connect(a.name);
    const error = await caught(connection.rpc('erlang', 'error', [atom('boom')]));
    expect(error.code).toBe('badrpc');
    expect(error.message).toContain('erlang:error/1');
    expect(error.message).toContain("{'EXIT',{boom,");
    // The connection is still fine.
    expect(await connection.rpc('erlang', 'node', [])).toBe(atom(a.name));
  });

  it('a wrong cookie is auth_failed, naming the node and not the cookie', async () => {
    const error = await caught(connect(a.name, { cookie: 'wrong_cookie_value' }));
    expect(error.code).toBe('auth_failed');
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(`node ${a.name} rejected the cookie`);
    expect(error.message).not.toContain('wrong_cookie_value');
    expect(error.message).not.toContain(COOKIE);
  });

  it('a name EPMD does not know is node_not_registered', async () => {
    const error = await caught(connect(`nobody_${tag}@127.0.0.1`));
    expect(error.code).toBe('node_not_registered');
    expect(error.exitCode).toBe(3);
  });

  it('no EPMD is epmd_unreachable; no listener is dist_unreachable', async () => {
    const closedPort = await freePort();
    expect((await caught(connect(a.name, { epmdPort: closedPort }))).code).toBe('epmd_unreachable');
    expect((await caught(connect(a.name, { port: closedPort }))).code).toBe('dist_unreachable');
  });

  it('a listener that never answers the handshake times out', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const error = await caught(connect(a.name, { port, connectTimeoutMs: 300 }));
    expect(error.code).toBe('timeout');
    expect(error.message).toContain('300 ms');
    for (const socket of sockets) socket.destroy();
  });

  it('measures connect time and rpc latency (reported, not asserted)', async () => {
    const connectTimes: number[] = [];
    for (let index = 0; index < 5; index += 1) {
      const started = performance.now();
      const connection = await connectNode(b.name, {
        localName: `beamscope_m${index}${tag.toString(16).slice(-4)}@127.0.0.1`,
        cookie: COOKIE,
      });
      connectTimes.push(performance.now() - started);
      connection.close();
    }
    const connection = await connect(a.name);
    const latencies: number[] = [];
    for (let index = 0; index < 50; index += 1) {
      const started = performance.now();
      await connection.rpc('erlang', 'node', []);
      latencies.push(performance.now() - started);
    }
    console.log(
      `[erlang figures] connect (EPMD + TCP + handshake) median ${median(connectTimes).toFixed(1)} ms; ` +
        `rpc erlang:node/0 median ${median(latencies).toFixed(2)} ms`,
    );
    expect(latencies).toHaveLength(50);
  });
});

describe('epmd-less mode', () => {
  it('connects to the configured port without asking EPMD', async () => {
    const node = await start({ name: `cl_${tag}@127.0.0.1`, cookie: COOKIE, mode: 'epmdless' });
    expect(node.port).toBeDefined();
    // An EPMD port where nothing listens proves EPMD is not asked.
    const connection = await connect(node.name, { port: node.port, epmdPort: await freePort() });
    expect(await connection.rpc('erlang', 'node', [])).toBe(atom(node.name));
  });
});

describe('failures of a connected node', () => {
  it('a node killed mid-call rejects the pending call with node_down promptly', async () => {
    const node = await start({ name: `ck_${tag}@127.0.0.1`, cookie: COOKIE });
    const connection = await connect(node.name);
    let down: BeamscopeError | undefined;
    connection.once('down', (reason) => (down = reason));
    const sleeping = connection.rpc('timer', 'sleep', [5000], { timeoutMs: 20_000 });
    const outcome = sleeping.then(
      (value: Term) => ({ value }),
      (error: unknown) => ({ error, at: performance.now() }),
    );
    // Wait until the call is really running on the node.
    await waitFor(
      async () =>
        (await node.eval(
          'lists:any(fun(P) -> erlang:process_info(P, current_function) =:= {current_function, {timer, sleep, 1}} end, processes())',
        )) === 'true',
    );
    const killedAt = performance.now();
    node.kill('SIGKILL');
    const result = await outcome;
    expect('error' in result && (result.error as BeamscopeError).code).toBe('node_down');
    expect(down?.code).toBe('node_down');
    if ('at' in result)
      console.log(
        `[erlang figures] SIGKILL → pending call rejected in ${(result.at - killedAt).toFixed(1)} ms`,
      );
  });

  it('SIGSTOP makes calls time out; after SIGCONT the same connection works again', async () => {
    const node = await start({ name: `cs_${tag}@127.0.0.1`, cookie: COOKIE });
    const connection = await connect(node.name);
    expect(await connection.rpc('erlang', 'node', [])).toBe(atom(node.name));
    node.kill('SIGSTOP');
    await waitUntilStopped(node.pid);
    try {
      const error = await caught(connection.rpc('erlang', 'node', [], { timeoutMs: 500 }));
      expect(error.code).toBe('timeout');
    } finally {
      node.kill('SIGCONT');
    }
    await waitFor(async () => {
      try {
        return (
          (await connection.rpc('erlang', 'node', [], { timeoutMs: 1000 })) === atom(node.name)
        );
      } catch {
        return false;
      }
    });
    expect(connection.connected).toBe(true);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
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
