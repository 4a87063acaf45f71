import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { DEMO_APP_VERSIONS, demoOverlayEbin } from '@/server/sandbox/beam/demo-versions';

describe('demoOverlayEbin', () => {
  it('builds one release for pods that start together, each getting the whole .app', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'beamscope-demo-versions-'));
    try {
      const release = DEMO_APP_VERSIONS[1]!;
      // A rolling upgrade starts several pods of the release at once, in one process.
      const ebins = await Promise.all(
        Array.from({ length: 4 }, () => demoOverlayEbin(release, cacheDir)),
      );
      expect(new Set(ebins).size).toBe(1);
      const ebin = ebins[0]!;
      const app = await readFile(join(ebin, 'myapp.app'), 'utf8');
      expect(app).toContain(`{vsn, "${release}"}`);
      // Nothing written aside is left behind.
      expect((await readdir(ebin)).filter((file) => file.startsWith('.myapp.app'))).toEqual([]);
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
