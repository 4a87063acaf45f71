// The SQLite store on a read-only root filesystem: it writes only in its data folder, and the
// experimental-feature warning of `node:sqlite` stays out of the server's log while every other
// warning still reaches it.

import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { BeamscopeError } from '../../../server/errors';
import { SQLITE_FILE_NAME, SqliteHistoryStore } from '../../../server/history/sqlite';
import { loadSqlite, migrate, NEW_FILE_PAGE_SIZE } from '../../../server/history/sqlite-schema';
import { batch, event, keyframe, meshState } from './fixtures';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'beamscope-sqlite-'));
});
afterEach(async () => {
  await chmod(root, 0o700).catch(() => {});
  await rm(root, { recursive: true, force: true });
});

describe('SQLite history files', () => {
  it('creates its data folder and writes nothing outside it', async () => {
    const data = join(root, 'var', 'lib', 'beamscope');
    const store = new SqliteHistoryStore({ directory: data });
    await store.open();
    const state = meshState(3, 1_000);
    await store.append(
      batch('prod', 'run', {
        events: [event(1, 1_000)],
        keyframes: [keyframe(state, 'run', 1)],
        observedUntil: 1_000,
      }),
    );
    await store.compact(0, 2_000);
    expect((await readdir(data)).sort()).toEqual(
      [SQLITE_FILE_NAME, `${SQLITE_FILE_NAME}-shm`, `${SQLITE_FILE_NAME}-wal`].sort(),
    );
    await store.close();
    // Reopened (a restart), the history is there.
    const again = new SqliteHistoryStore({ directory: data });
    await again.open();
    expect(await again.lastObservation('prod')).toEqual({ run: 'run', until: 1_000 });
    expect((await again.stateAt('prod', 1_000))?.keyframe.seq).toBe(1);
    await again.close();
    expect(await readdir(root)).toEqual(['var']);
  });

  it('gives a new file its larger pages and leaves an older file its own', async () => {
    const pageSize = (directory: string) => {
      const db = new (loadSqlite().DatabaseSync)(join(directory, SQLITE_FILE_NAME));
      try {
        return (db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
      } finally {
        db.close();
      }
    };
    const write = async (directory: string) => {
      const store = new SqliteHistoryStore({ directory });
      await store.open();
      await store.append(
        batch('prod', 'run', {
          keyframes: [keyframe(meshState(3, 1_000), 'run', 1)],
          observedUntil: 1_000,
        }),
      );
      expect(await store.stateAt('prod', 1_000)).not.toBeNull();
      await store.close();
    };
    const fresh = join(root, 'fresh');
    await write(fresh);
    expect(pageSize(fresh)).toBe(NEW_FILE_PAGE_SIZE);

    // A file an older release made, with SQLite's default 4 KB pages and the same schema.
    const older = join(root, 'older');
    await mkdir(older);
    const db = new (loadSqlite().DatabaseSync)(join(older, SQLITE_FILE_NAME));
    db.exec('PRAGMA journal_mode = WAL');
    migrate(db);
    db.close();
    await write(older);
    expect(pageSize(older)).toBe(4096);
  });

  it('fails to open with history_unavailable when the folder cannot be written', async () => {
    if (process.getuid?.() === 0) {
      // Root writes anywhere: a file where the folder should be stands in for a read-only mount.
      await writeFile(join(root, 'data'), 'not a folder');
    } else {
      await mkdir(join(root, 'data'));
      await chmod(join(root, 'data'), 0o500);
    }
    const store = new SqliteHistoryStore({ directory: join(root, 'data') });
    const failure = await store.open().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BeamscopeError);
    expect((failure as BeamscopeError).code).toBe('history_unavailable');
    expect((failure as Error).message).toContain(join(root, 'data'));
  });

  it("keeps node:sqlite's experimental warning out of stderr, and no other warning", async () => {
    const script = join(root, 'open.mts');
    await writeFile(
      script,
      `import { SqliteHistoryStore } from ${JSON.stringify(join(ROOT, 'server/history/sqlite.ts'))};
       const store = new SqliteHistoryStore({ directory: ${JSON.stringify(join(root, 'data'))} });
       await store.open();
       await store.close();
       process.emitWarning('a warning of our own', 'ExperimentalWarning');
       console.log('opened');`,
    );
    const { stdout, stderr } = await run(
      process.execPath,
      ['--conditions=react-server', '--import', 'tsx', script],
      { cwd: ROOT, env: { ...process.env, TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json') } },
    );
    expect(stdout.trim()).toBe('opened');
    expect(stderr).not.toContain('SQLite');
    expect(stderr).toContain('a warning of our own');
  });
});
