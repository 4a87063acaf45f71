import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UsageError, type CommandIo } from '@/server/cli/command';
import { sandboxCommand } from '@/server/cli/commands/sandbox';

// The verbs check their arguments before they look for a sandbox: these run against an empty
// folder, so a verb that got past its checks fails with "no sandbox is running" instead.
describe('beamscope sandbox app-version and upgrade: their arguments', () => {
  let dir: string;
  const io: CommandIo = {
    stdout: () => undefined,
    stderr: () => undefined,
    stopped: new Promise(() => undefined),
  };
  const run = (...args: string[]) => sandboxCommand.run([...args, '--dir', dir], io);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-sandbox-verbs-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes only a release of the demo app, naming them when the version is not one', async () => {
    for (const args of [
      ['app-version', 'myapp-0', '0.3.0'],
      ['upgrade', '1'],
      ['upgrade', ''],
    ]) {
      const error = await run(...args).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(
        `VERSION must be one of 0.1.0, 0.2.0 (the demo app's releases), not '${args.at(-1)}'`,
      );
    }
  });

  it('counts the arguments: a pod and a version, or a version', async () => {
    await expect(run('app-version', '0.2.0')).rejects.toThrow(
      'sandbox app-version takes 2 arguments',
    );
    await expect(run('upgrade')).rejects.toThrow('sandbox upgrade takes 1 argument');
    await expect(run('upgrade', '0.2.0', 'myapp-0')).rejects.toThrow(
      'sandbox upgrade takes 1 argument',
    );
  });

  it('with good arguments, goes on to look for the sandbox', async () => {
    await expect(run('app-version', 'myapp-0', '0.2.0')).rejects.toThrow(
      `no sandbox is running in ${dir}`,
    );
    await expect(run('upgrade', '0.1.0')).rejects.toThrow(`no sandbox is running in ${dir}`);
  });

  it('lists both verbs and the releases in its usage', () => {
    expect(sandboxCommand.usage).toContain('app-version POD VERSION | upgrade VERSION');
    expect(sandboxCommand.usage).toContain('0.1.0 or 0.2.0');
  });
});
