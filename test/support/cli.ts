/**
 * The `beamscope` command as a user runs it (the real launcher, on the Node running the tests),
 * and a sandbox started through it, for the CLI's end-to-end tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { freePort } from './ports';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const LAUNCHER = join(ROOT, 'bin', 'beamscope.mjs');

/** Runs `beamscope ARGS` to completion (killed after `timeoutMs`). */
export function runBeamscope(
  args: string[],
  timeoutMs = 40_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LAUNCHER, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A running `beamscope sandbox`: its process, the config it wrote, and how to stop it. */
export interface CliSandbox {
  child: ChildProcess;
  config: string;
  stop(): Promise<void>;
}

/**
 * Starts `beamscope sandbox` in `dir` on a free distribution port and resolves at its ready line
 * (within 45 s), with the path of the beamscope.yaml it wrote.
 */
export async function startCliSandbox(
  dir: string,
  options: { pods: number; devices: number },
): Promise<CliSandbox> {
  const child = spawn(
    process.execPath,
    [
      LAUNCHER,
      'sandbox',
      '--pods',
      String(options.pods),
      '--devices',
      String(options.devices),
      '--dist-port',
      String(await freePort()),
      '--dir',
      dir,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const config = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`sandbox not ready in 45 s: ${stderr}`)),
        45_000,
      );
      createInterface(child.stdout).on('line', (line) => {
        try {
          const message = JSON.parse(line) as { ready?: boolean; config: string };
          if (message.ready) {
            clearTimeout(timer);
            resolve(message.config);
          }
        } catch {
          // not the ready line
        }
      });
      child.once('exit', (code) => reject(new Error(`sandbox exited with ${code}: ${stderr}`)));
    });
    return { child, config, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
