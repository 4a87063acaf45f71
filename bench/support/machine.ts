/** What a bench result was measured on: the machine, the versions of every part, the commit. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { CHROMIUM_PATH } from '../../test/e2e/support/browser';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

async function output(command: string, args: string[]): Promise<string | null> {
  try {
    const { stdout } = await run(command, args, { cwd: root, timeout: 20_000 });
    return stdout.trim();
  } catch {
    return null;
  }
}

export interface MachineInfo {
  cpus: number;
  model: string;
  memoryGB: number;
  os: string;
  kernel: string;
  /** 1, 5 and 15 minute load averages when the run started: a busy machine shows here. */
  loadAverage: number[];
}

export interface Versions {
  node: string;
  otp: string | null;
  erts: string | null;
  next: string | null;
  chromium: string | null;
}

export interface GitInfo {
  commit: string | null;
  /** Uncommitted changes in the checkout (the figures may not be the commit's). */
  dirty: boolean | null;
}

export async function machineInfo(): Promise<MachineInfo> {
  let os = `${type()} ${release()}`;
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1];
    if (pretty) os = pretty;
  } catch {
    // Not Linux, or no os-release: the kernel's name is enough.
  }
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os,
    kernel: `${type()} ${release()}`,
    loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

export async function versions(): Promise<Versions> {
  const erlang = await output('erl', [
    '-noshell',
    '-eval',
    'io:format("~s ~s", [erlang:system_info(otp_release), erlang:system_info(version)]), halt().',
  ]);
  const [otp, erts] = erlang ? erlang.split(' ') : [null, null];
  let next: string | null = null;
  try {
    next = (
      JSON.parse(await readFile(join(root, 'node_modules/next/package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    // Not installed: the bench fails later anyway.
  }
  const chromium =
    /Chromium [\d.]+/.exec((await output(CHROMIUM_PATH, ['--version'])) ?? '')?.[0] ?? null;
  return { node: process.version, otp: otp ?? null, erts: erts ?? null, next, chromium };
}

export async function gitInfo(): Promise<GitInfo> {
  const commit = await output('git', ['rev-parse', 'HEAD']);
  const status = await output('git', ['status', '--porcelain', '--untracked-files=no']);
  return { commit, dirty: status === null ? null : status.length > 0 };
}
