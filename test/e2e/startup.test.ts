import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort, spawnDashboard } from './support/app';

describe('the production server with a bad configuration file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-badconfig-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start, with one line naming the file, the field and what was expected', async () => {
    const file = join(dir, 'beamscope.yaml');
    await writeFile(
      file,
      [
        'clusters:',
        '  - id: shop',
        '    discovery: { mode: dns, service: shop }',
        '    nodeNaming: { basename: shop }',
        '    distribution: { cookieEnv: SHOP_COOKIE }',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const child = spawnDashboard(file, port);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 30_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(code).toBe(78);
    const lines = stderr.split('\n').filter((line) => line.startsWith('beamscope:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toContain('clusters[0].discovery.mode');
    expect(lines[0]).toMatch(/endpointSlices/);
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});
