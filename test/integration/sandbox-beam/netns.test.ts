/**
 * The netns mode's pod network on the real kernel (root): namespaces, veth and a bridge named
 * after the run, real `erl` nodes inside them owning their pod IPs, beamscope's dialler reaching
 * them from the host, and faults made by the kernel (blackhole routes, htb), all removed on stop,
 * and a dead run's leftovers removed by the next start.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { atom } from '@/server/erlang/codec';
import { connectNode } from '@/server/erlang/connect';
import { bridgeName, netnsName, vethName } from '@/server/sandbox/netns/names';
import { NetnsPodNetwork } from '@/server/sandbox/netns/network';

const run = promisify(execFile);
const ROOT = process.getuid?.() === 0;
const COOKIE = `netns_${process.pid}`;
const PORT = 9100;
const A = '10.244.0.2';
const B = '10.244.0.3';
const LOCAL = `beamscope_nt${process.pid}@10.244.0.1`;

const ours = async () => {
  const namespaces = (await run('ip', ['netns', 'list'])).stdout;
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
  const mine = [netnsName(process.pid, 0), netnsName(process.pid, 1)];
  const myLinks = [bridgeName(process.pid), vethName(process.pid, 0), vethName(process.pid, 1)];
  return [
    ...mine.filter((name) => namespaces.includes(name)),
    ...myLinks.filter((name) => links.includes(`${name}:`) || links.includes(`${name}@`)),
  ];
};

/** A process that has exited: its pid is a dead run's. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

// Root, as CI and the test machine run: the netns mode is root's (without root it refuses in one
// line, which test/unit/sandbox/netns.test.ts checks).
describe('the netns pod network on the real kernel', () => {
  const network = new NetnsPodNetwork();
  const nodes: ChildProcess[] = [];
  let home: string;
  let dead: number;

  const connect = (ip: string, connectTimeoutMs = 5_000) =>
    connectNode(`myapp@${ip}`, { localName: LOCAL, cookie: COOKIE, port: PORT, connectTimeoutMs });

  /** `erl` in the pod's namespace, named and listening on its pod IP, as netns mode runs it. */
  async function startNode(ip: string): Promise<void> {
    const args = ['-noinput', '-name', `myapp@${ip}`, '-start_epmd', 'false'];
    args.push('-erl_epmd_port', String(PORT), '-kernel', 'inet_dist_use_interface');
    args.push(`{${ip.replaceAll('.', ',')}}`, '-kernel', 'inet_dist_listen_min', String(PORT));
    args.push('inet_dist_listen_max', String(PORT), '+S', '1:1');
    const wrapped = network.wrap(ip, 'erl', args);
    const child = spawn(wrapped.command, wrapped.args, {
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { ...process.env, HOME: home },
    });
    nodes.push(child);
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        (await connect(ip, 1_000)).close();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  beforeAll(async () => {
    if (!ROOT) throw new Error('the netns test needs root (network namespaces, veth and routes)');
    home = await mkdtemp(join(tmpdir(), 'beamscope-netns-'));
    await writeFile(join(home, '.erlang.cookie'), COOKIE, { mode: 0o400 });
    // What a killed run left: its namespace and bridge, under a pid that no longer runs.
    dead = await deadPid();
    await run('ip', ['netns', 'add', netnsName(dead, 0)]);
    await run('ip', ['link', 'add', bridgeName(dead), 'type', 'bridge']);
    await network.start();
    await network.addPod(A);
    await network.addPod(B);
    await Promise.all([startNode(A), startNode(B)]);
  }, 60_000);

  afterAll(async () => {
    for (const node of nodes) node.kill('SIGKILL');
    await network.stop();
    await rm(home, { recursive: true, force: true });
  });

  it('removed the dead run’s namespace and bridge when it started', async () => {
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(netnsName(dead, 0));
    expect((await run('ip', ['-o', 'link', 'show'])).stdout).not.toContain(`${bridgeName(dead)}:`);
  });

  it('runs each node in its own namespace, owning its pod IP, reached from the host by it', async () => {
    const connection = await connect(A);
    try {
      expect(await connection.rpc('erlang', 'node', [])).toEqual(atom(`myapp@${A}`));
      expect(await connection.rpc('net_kernel', 'connect_node', [atom(`myapp@${B}`)])).toEqual(
        atom('true'),
      );
    } finally {
      connection.close();
    }
    // The address is the namespace's, not the host's.
    const host = (await run('ip', ['-o', 'addr', 'show'])).stdout;
    expect(host).not.toContain(`inet ${A}/`);
    expect(host).toContain('inet 10.244.0.1/16');
  });

  it('partitions the pods with kernel routes, and heals', async () => {
    await network.partition([[A], [B]]);
    const connection = await connect(A);
    try {
      await connection.rpc('erlang', 'disconnect_node', [atom(`myapp@${B}`)]);
      expect(
        await connection.rpc('net_kernel', 'connect_node', [atom(`myapp@${B}`)], {
          timeoutMs: 15_000,
        }),
      ).toEqual(atom('false'));
      // beamscope's side still reaches both.
      (await connect(B)).close();
      await network.heal();
      expect(await connection.rpc('net_kernel', 'connect_node', [atom(`myapp@${B}`)])).toEqual(
        atom('true'),
      );
    } finally {
      connection.close();
    }
  }, 30_000);

  it('cuts beamscope off from one side while the pods still reach each other', async () => {
    await network.cutOff([B]);
    await expect(connect(B, 1_500)).rejects.toMatchObject({ code: 'timeout' });
    const connection = await connect(A);
    try {
      expect(await connection.rpc('net_kernel', 'connect_node', [atom(`myapp@${B}`)])).toEqual(
        atom('true'),
      );
    } finally {
      connection.close();
      await network.heal();
    }
    (await connect(B)).close();
  }, 30_000);

  it('makes a one-way partition: A stops sending to B', async () => {
    await network.oneWay(A, B);
    const routes = (await run('ip', ['-n', netnsName(process.pid, 0), 'route', 'show'])).stdout;
    expect(routes).toContain(`blackhole ${B}`);
    const back = (await run('ip', ['-n', netnsName(process.pid, 1), 'route', 'show'])).stdout;
    expect(back).not.toContain('blackhole');
    await network.heal();
  });

  it('slows a pod’s link with htb, both ways, and lifts it on heal', async () => {
    await network.slow(A, 8);
    const classes = (await run('tc', ['class', 'show', 'dev', vethName(process.pid, 0)])).stdout;
    expect(classes).toMatch(/htb 1:1 .*rate 8Kbit/);
    const inside = (
      await run('tc', ['-n', netnsName(process.pid, 0), 'class', 'show', 'dev', 'eth0'])
    ).stdout;
    expect(inside).toMatch(/htb 1:1 .*rate 8Kbit/);
    await network.heal();
    expect((await run('tc', ['class', 'show', 'dev', vethName(process.pid, 0)])).stdout).toBe('');
  });

  it('removes every namespace, veth and the bridge on stop', async () => {
    expect(await ours()).not.toEqual([]);
    for (const node of nodes.splice(0)) node.kill('SIGKILL');
    await network.stop();
    expect(await ours()).toEqual([]);
  });
});
