/**
 * `beamscope sandbox --network netns` (root, as CI runs): each pod's node in its own network
 * namespace owning its pod IP, the mesh and beamscope's view through the kernel's network, and
 * the clean-up: everything gone on stop, and what a killed run left removed by the next run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SandboxControlClient } from '@/server/sandbox/control-client';
import type { PodStatusReport } from '@/server/sandbox/kube-api';

import { waitFor } from './support';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LAUNCHER = join(ROOT, 'bin', 'beamscope.mjs');
const IPS = ['10.244.0.2', '10.244.0.3', '10.244.0.4'];

type Pod = PodStatusReport & { container?: { nodes: string[] } };

/** A running `beamscope sandbox --network netns`, resolved once it printed its ready line. */
async function startSandbox(dir: string) {
  const child: ChildProcess = spawn(
    process.execPath,
    [LAUNCHER, 'sandbox', '--network', 'netns', '--pods', '3', '--devices', '60', '--dir', dir],
    // Each pod owns its address, so the default distribution port clashes with no other run.
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
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
      { cwd: ROOT },
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
            { cwd: ROOT },
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
