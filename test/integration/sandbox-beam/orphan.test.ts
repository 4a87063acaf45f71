import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { freePort } from './support';

const FIXTURE = fileURLToPath(new URL('./fixtures/orphan-runtime.mts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('BeamPodRuntime when its own process dies', () => {
  let child: ChildProcess | undefined;
  let pids: number[] = [];
  let dir: string | undefined;

  afterAll(async () => {
    child?.kill('SIGKILL');
    // Never leave a node behind, whatever the test found.
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('its nodes halt when the runtime process is SIGKILLed (their stdin closes)', async () => {
    const port = await freePort();
    dir = await mkdtemp(join(tmpdir(), 'beamscope-sandbox-beam-orphan-'));
    // node itself (not the tsx CLI, which would leave a grandchild behind on SIGKILL).
    child = spawn(
      process.execPath,
      ['--conditions', 'react-server', '--import', 'tsx', FIXTURE, String(port), dir],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    pids = await new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fixture not up: ${output}`)), 25_000);
      child!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /\{"pids":\[[\d,]*\]\}/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve((JSON.parse(match[0]) as { pids: number[] }).pids);
        }
      });
      child!.once('exit', (code) => reject(new Error(`fixture exited (${code}): ${output}`)));
    });
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(true);

    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (pids.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(pids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    // Only the token is left on disk (a mounted secret's stand-in); the cookie files are gone.
    expect(existsSync(join(dir, 'run', 'token'))).toBe(true);
    for (const pod of readdirSync(join(dir, 'run'))) {
      expect(existsSync(join(dir, 'run', pod, '.erlang.cookie'))).toBe(false);
    }
  });
});
