/**
 * The netns mode (root, as CI runs) on the real kernel, in one file because every run holds the
 * machine's one pod network (10.244.0.0/16) and two files at once would refuse each other:
 * - the pod network itself: namespaces, veth and a bridge named after the run, real `erl` nodes
 *   inside them owning their pod IPs, beamscope's dialler reaching them from the host, faults made
 *   by the kernel (blackhole routes, htb), all removed on stop, a dead run's leftovers removed;
 * - `beamscope sandbox --network netns`: the mesh and beamscope's view through the kernel's
 *   network, and the clean-up: everything gone on stop, what a killed run left removed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { atom } from '@/server/erlang/codec';
import { connectNode } from '@/server/erlang/connect';
import { SandboxControlClient } from '@/server/sandbox/control-client';
import type { PodStatusReport } from '@/server/sandbox/kube-api';
import { bridgeName, netnsName, vethName } from '@/server/sandbox/netns/names';
import { NetnsPodNetwork } from '@/server/sandbox/netns/network';

import { waitFor } from './support';

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

const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));
const LAUNCHER = join(PROJECT, 'bin', 'beamscope.mjs');
const IPS = ['10.244.0.2', '10.244.0.3', '10.244.0.4'];

type Pod = PodStatusReport & { container?: { nodes: string[] } };

/** A running `beamscope sandbox --network netns`, resolved once it printed its ready line. */
async function startSandbox(dir: string) {
  const child: ChildProcess = spawn(
    process.execPath,
    [LAUNCHER, 'sandbox', '--network', 'netns', '--pods', '3', '--devices', '60', '--dir', dir],
    // Each pod owns its address, so the default distribution port clashes with no other run.
    { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = await new Promise<{ nodes: string[]; network: string; api: string }>(
    (resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('{')) resolve(JSON.parse(line));
      });
      void exited.then((code) => reject(new Error(`the sandbox exited (${code}): ${stderr}`)));
    },
  );
  // The sandbox's own pid (the launcher runs it as a child): what its namespaces are named by.
  const state = JSON.parse(await readFile(join(dir, 'sandbox.json'), 'utf8')) as { pid: number };
  return { child, exited, ready, pid: state.pid };
}

const namespacesOf = async (pid: number) =>
  (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .filter((line) => line.startsWith(`beamscope-${pid}-`));

describe('beamscope sandbox --network netns', () => {
  let parent: string;
  let second: Awaited<ReturnType<typeof startSandbox>> | undefined;
  let killedPid: number;

  const status = async (dir: string) =>
    (await (await SandboxControlClient.open(dir)).call<{ pods: Pod[] }>('GET', '/status')).pods;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the netns mode needs root, as CI runs');
    parent = await mkdtemp(join(tmpdir(), 'beamscope-netns-'));
    // A run killed without a chance to clean up: its namespaces stay behind.
    const first = await startSandbox(join(parent, 'killed'));
    killedPid = first.pid;
    expect(await namespacesOf(killedPid)).toHaveLength(3);
    process.kill(killedPid, 'SIGKILL');
    await first.exited;
    second = await startSandbox(join(parent, 'sandbox'));
  }, 120_000);

  afterAll(async () => {
    second?.child.kill('SIGTERM');
    await second?.exited;
    await rm(parent, { recursive: true, force: true });
  });

  it('removed what the killed run left before it started', async () => {
    expect(await namespacesOf(killedPid)).toEqual([]);
  });

  it('names the nodes by pod IPs the host does not hold, and the API by the bridge', async () => {
    expect(second!.ready).toMatchObject({
      network: 'netns',
      nodes: IPS.map((ip) => `myapp@${ip}`),
      api: expect.stringMatching(/^https:\/\/10\.244\.0\.1:\d+$/),
    });
    expect(await namespacesOf(second!.pid)).toHaveLength(3);
    const host = (await run('ip', ['-o', 'addr', 'show'])).stdout;
    for (const ip of IPS) expect(host).not.toContain(`inet ${ip}/`);
  });

  it('meshes through the kernel network, and beamscope sees every node', async () => {
    const dir = join(parent, 'sandbox');
    await waitFor(
      'a mesh of three',
      () => status(dir),
      (pods) =>
        pods.length === 3 &&
        pods.every(
          (pod) =>
            pod.ready &&
            JSON.stringify(pod.container?.nodes) ===
              JSON.stringify(IPS.filter((ip) => ip !== pod.ip).map((ip) => `myapp@${ip}`)),
        ),
    );
    const members = await run(
      process.execPath,
      [LAUNCHER, 'snapshot', '--config', join(dir, 'beamscope.yaml'), '--json'],
      { cwd: PROJECT },
    );
    const snapshot = JSON.parse(members.stdout) as { partitions: string[][] };
    expect(snapshot.partitions).toEqual([IPS.map((ip) => `myapp@${ip}`)]);
  });

  it('makes faults with the kernel: beamscope cut off from one pod, then the pods partitioned', async () => {
    const dir = join(parent, 'sandbox');
    const client = await SandboxControlClient.open(dir);
    const snapshot = async () =>
      JSON.parse(
        (
          await run(
            process.execPath,
            [LAUNCHER, 'snapshot', '--config', join(dir, 'beamscope.yaml'), '--json'],
            { cwd: PROJECT },
          )
        ).stdout,
      ) as {
        partitions: string[][];
        members: Array<{ node: string | null; beam?: { connection: { status: string } } }>;
      };
    const connected = (state: Awaited<ReturnType<typeof snapshot>>) =>
      Object.fromEntries(
        state.members.map((member) => [member.node, member.beam?.connection.status]),
      );
    const [a, b, c] = IPS.map((ip) => `myapp@${ip}`);

    await client.call('POST', '/network-fault', { kind: 'cut-off', pods: [IPS[2]] });
    const cut = await snapshot();
    expect(connected(cut)).toMatchObject({ [a!]: 'connected', [b!]: 'connected' });
    expect(connected(cut)[c!]).not.toBe('connected');
    // The pods still reach each other: only beamscope's side lost the third.
    expect((await status(dir)).find((pod) => pod.ip === IPS[0])?.container?.nodes).toEqual([b, c]);

    await client.call('POST', '/heal');
    await client.call('POST', '/network-fault', {
      kind: 'partition',
      sides: [[IPS[0]], [IPS[1], IPS[2]]],
    });
    // The connections already up are closed by nobody: the nodes find a link dead only when
    // its ticks stop arriving, after net_ticktime (60 s by default), as across a real partition.
    await waitFor(
      'the kernel partition to split the mesh',
      () => status(dir),
      (pods) =>
        pods.every((pod) =>
          pod.ip === IPS[0]
            ? pod.container?.nodes.length === 0
            : JSON.stringify(pod.container?.nodes) ===
              JSON.stringify([b, c].filter((node) => node !== `myapp@${pod.ip}`)),
        ),
      120_000,
    );
    await client.call('POST', '/heal');
    await waitFor(
      'the mesh back',
      () => status(dir),
      (pods) => pods.every((pod) => pod.container?.nodes.length === 2),
      60_000,
    );
  }, 240_000);

  it('removes every namespace and link on stop', async () => {
    const pid = second!.pid;
    second!.child.kill('SIGTERM');
    expect(await second!.exited).toBe(0);
    second = undefined;
    expect(await namespacesOf(pid)).toEqual([]);
    expect((await run('ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/: bs(?:v|br)/);
  });
});
