import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sandboxAction, sandboxActionSchema, sandboxStatus } from '@/server/http/dashboard';

describe('the sandbox panel API', () => {
  let dir: string;
  let config: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-panel-'));
    config = join(dir, 'beamscope.yaml');
    await writeFile(config, 'clusters: []\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts the six actions and refuses anything else', () => {
    for (const action of [
      { action: 'scale', replicas: 4 },
      { action: 'kill', pod: 'myapp-abc-x2x8q' },
      { action: 'oom-kill', pod: 'myapp-abc-x2x8q' },
      { action: 'miscookie', pod: 'myapp-abc-x2x8q', restore: true },
      { action: 'partition', sides: [['a'], ['b', 'c']] },
      { action: 'heal' },
    ]) {
      expect(sandboxActionSchema.safeParse(action).success).toBe(true);
    }
    for (const action of [
      { action: 'scale', replicas: -1 },
      { action: 'kill', pod: '../etc' },
      { action: 'oom-kill', pod: '../etc' },
      { action: 'partition', sides: [['a']] },
      { action: 'reboot' },
      null,
    ]) {
      expect(sandboxActionSchema.safeParse(action).success).toBe(false);
    }
  });

  it('says there is no sandbox when the configuration is not in a running sandbox folder', async () => {
    await expect(sandboxStatus(config)).resolves.toEqual({ available: false, pods: [] });
    await expect(sandboxAction(config, { action: 'heal' })).rejects.toMatchObject({
      code: 'sandbox_unavailable',
    });
    await expect(sandboxAction(config, { action: 'scale' })).rejects.toMatchObject({
      code: 'bad_request',
    });
  });
});
