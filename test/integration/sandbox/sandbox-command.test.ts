import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { loadConfig, readCookie } from '@/server/config';
import { sandboxCommand } from '@/server/cli/commands/sandbox';

import { beamProcessesUsingPort, freePort } from '../sandbox-beam/support';

import { kubectl } from './kubectl';

const REPO = join(import.meta.dirname, '..', '..', '..');

/** The pid of the CLI's own node process (npx → launcher → node server/cli/main.ts) in a group. */
async function cliPid(group: number): Promise<number> {
  const { stdout } = await promisify(execFile)('ps', ['-e', '-o', 'pid=,pgid=,args=']);
  for (const line of stdout.split('\n')) {
    const [pid, pgid, ...args] = line.trim().split(/\s+/);
    if (Number(pgid) === group && args.join(' ').includes('server/cli/main.ts')) return Number(pid);
  }
  throw new Error('the sandbox command process was not found');
}

describe('beamscope sandbox', () => {
  let child: ChildProcess | undefined;
  let parent: string | undefined;

  afterAll(async () => {
    if (child?.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    if (parent) await rm(parent, { recursive: true, force: true });
  });

  it('writes a kubeconfig, config and cookie that work, and removes them on SIGTERM', async () => {
    parent = await mkdtemp(join(tmpdir(), 'beamscope-sandbox-cli-'));
    const dir = join(parent, 'nested', 'sandbox');
    // Real BEAM pods now: few devices, and a distribution port of this test's own.
    const distPort = await freePort();
    child = spawn(
      'npx',
      [
        'beamscope',
        'sandbox',
        '--pods',
        '3',
        '--devices',
        '60',
        '--dir',
        dir,
        '--dist-port',
        String(distPort),
      ],
      {
        cwd: REPO,
        detached: true, // its own process group, so afterAll can clean up all of it
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));

    const deadline = Date.now() + 50_000;
    while (!stdout.includes('\n')) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`sandbox did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const ready = JSON.parse(lines[0]!) as {
      ready: boolean;
      kubeconfig: string;
      config: string;
      api: string;
    };
    expect(ready).toMatchObject({
      ready: true,
      kubeconfig: join(dir, 'kubeconfig'),
      config: join(dir, 'beamscope.yaml'),
      api: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/),
      distPort,
      nodes: ['myapp@10.244.0.2', 'myapp@10.244.0.3', 'myapp@10.244.0.4'],
    });

    const config = parse(await readFile(ready.config, 'utf8')) as {
      clusters: Array<Record<string, unknown>>;
      history: unknown;
    };
    expect(config.history).toEqual({ store: 'sqlite', path: './history' });
    expect(config.clusters).toEqual([
      expect.objectContaining({
        id: 'sandbox',
        kubernetes: { kubeconfig: './kubeconfig', context: 'sandbox' },
        discovery: { mode: 'endpointSlices', service: 'myapp' },
        nodeNaming: { mode: 'ip', basename: 'myapp' },
        distribution: {
          cookieFile: './cookie',
          port: distPort,
          addressMap: [{ from: '10.244.0.0/16', to: '127.0.0.0/16' }],
        },
      }),
    ]);
    expect((await stat(join(dir, 'cookie'))).mode & 0o777).toBe(0o600);
    expect((await readFile(join(dir, 'cookie'), 'utf8')).length).toBeGreaterThanOrEqual(20);

    const { stdout: pods } = await kubectl(ready.kubeconfig, join(parent, 'cache'), [
      'get',
      'pods',
    ]);
    const rows = pods.trim().split('\n').slice(1);
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toMatch(/\s1\/1\s+Running\s/);

    expect(beamProcessesUsingPort(distPort)).toHaveLength(3);
    process.kill(await cliPid(child.pid!), 'SIGTERM');
    expect(await exited).toBe(0);
    expect(beamProcessesUsingPort(distPort)).toEqual([]);
    await expect(stat(join(parent, 'nested'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('runs in-process through CommandIo, with a config beamscope itself loads (--http)', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'beamscope-sandbox-io-'));
    try {
      const dir = join(scratch, 'sandbox');
      const out: string[] = [];
      let stop: (signal: NodeJS.Signals) => void = () => {};
      const stopped = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
      const distPort = String(await freePort());
      const args = ['--pods', '1', '--devices', '20', '--dir', dir, '--dist-port', distPort];
      const exit = sandboxCommand.run([...args, '--http'], {
        stdout: (text) => out.push(text),
        stderr: () => {},
        stopped,
      });
      const deadline = Date.now() + 25_000;
      while (out.length === 0) {
        if (Date.now() > deadline) throw new Error('no ready line');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const ready = JSON.parse(out[0]!) as { api: string; config: string; kubeconfig: string };
      expect(ready.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await readFile(ready.kubeconfig, 'utf8')).toContain('insecure-skip-tls-verify: true');

      const config = await loadConfig(ready.config, {});
      const [cluster] = config.clusters;
      expect(cluster).toMatchObject({
        id: 'sandbox',
        discovery: { mode: 'endpointSlices', service: 'myapp' },
      });
      expect(await readCookie(cluster!, {})).toMatch(/^[A-Z]{20}$/);

      stop('SIGINT');
      expect(await exit).toBe(0);
      await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('rejects --tls together with --http', async () => {
    const io = {
      stdout: () => {},
      stderr: () => {},
      stopped: new Promise<NodeJS.Signals>(() => {}),
    };
    await expect(sandboxCommand.run(['--tls', '--http'], io)).rejects.toThrow(
      '--tls and --http exclude each other',
    );
  });
});
