import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig, parseDuration } from '@/server/config';
import { BeamscopeError } from '@/server/errors';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'beamscope-history-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const CLUSTERS = `
clusters:
  - id: sandbox
    discovery: { service: myapp }
    nodeNaming: { basename: myapp }
    distribution: { cookieFile: ./cookie }
`;

let counter = 0;
async function load(history: string) {
  counter += 1;
  const file = join(dir, `history-${counter}.yaml`);
  await writeFile(file, `${CLUSTERS}${history}`);
  return { file, config: loadConfig(file, {}) };
}

async function messageOf(history: string): Promise<string> {
  const { file, config } = await load(history);
  const error = await config.then(
    () => {
      throw new Error('expected the configuration to be rejected');
    },
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(BeamscopeError);
  expect((error as BeamscopeError).code).toBe('config_invalid');
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  expect(message.startsWith(`${file}: `)).toBe(true);
  return message.slice(file.length + 2);
}

describe('the history section', () => {
  it('keeps history in memory for an hour when the file has no history section', async () => {
    const { config } = await load('');
    expect((await config).history).toEqual({ store: 'memory', retentionMs: 3_600_000 });
  });

  it('reads SQLite with its folder resolved against the file, seven days by default', async () => {
    const { config } = await load('history: { store: sqlite, path: ./history }\n');
    expect((await config).history).toEqual({
      store: 'sqlite',
      path: join(dir, 'history'),
      retentionMs: 7 * 86_400_000,
    });
  });

  it('reads PostgreSQL with the variable that holds its URL and a retention', async () => {
    const { config } = await load(
      'history: { store: postgres, urlEnv: BEAMSCOPE_HISTORY_URL, retention: 36h }\n',
    );
    expect((await config).history).toEqual({
      store: 'postgres',
      urlEnv: 'BEAMSCOPE_HISTORY_URL',
      retentionMs: 36 * 3_600_000,
    });
  });

  it('reads a retention in memory', async () => {
    const { config } = await load('history: { store: memory, retention: 90m }\n');
    expect((await config).history).toEqual({ store: 'memory', retentionMs: 90 * 60_000 });
  });

  it.each([
    ['90m', 90 * 60_000],
    ['36h', 36 * 3_600_000],
    ['7d', 7 * 86_400_000],
    [' 2d ', 2 * 86_400_000],
    ['7', null],
    ['7w', null],
    ['0d', null],
    ['1.5h', null],
    ['-3h', null],
    ['', null],
  ])('reads the duration %j as %s ms', (text, expected) => {
    expect(parseDuration(text)).toBe(expected);
  });

  it.each([
    [
      'an unknown store',
      'history: { store: redis }',
      'history.store: expected one of memory, sqlite, postgres (got "redis")',
    ],
    [
      'a duration without unit',
      'history: { store: memory, retention: 7 }',
      'history.retention: expected a duration such as 90m, 36h or 7d (minutes, hours or days) (got 7)',
    ],
    [
      'a duration in weeks',
      'history: { store: memory, retention: 2w }',
      'history.retention: expected a duration such as 90m, 36h or 7d (minutes, hours or days) (got "2w")',
    ],
    [
      'a retention too short',
      'history: { store: memory, retention: 5m }',
      'history.retention: expected a retention of at least 10m (got "5m")',
    ],
    [
      'a retention too long',
      'history: { store: sqlite, path: /data, retention: 4000d }',
      'history.retention: expected a retention of at most 3650d (got "4000d")',
    ],
    [
      'SQLite without a folder',
      'history: { store: sqlite }',
      'history.path: expected the folder of the SQLite file (store sqlite writes only there)',
    ],
    [
      'PostgreSQL without urlEnv',
      'history: { store: postgres }',
      'history.urlEnv: expected the name of an environment variable holding the PostgreSQL URL (store postgres)',
    ],
    [
      'a bad variable name',
      'history: { store: postgres, urlEnv: "my-url" }',
      'history.urlEnv: expected the name of an environment variable holding the PostgreSQL URL, such as BEAMSCOPE_HISTORY_URL (got "my-url")',
    ],
    [
      'a folder for PostgreSQL',
      'history: { store: postgres, urlEnv: U, path: /data }',
      'history.path: applies to store sqlite only (store is postgres)',
    ],
    [
      'urlEnv for SQLite',
      'history: { store: sqlite, path: /data, urlEnv: U }',
      'history.urlEnv: applies to store postgres only (store is sqlite)',
    ],
    [
      'an unknown field',
      'history: { store: memory, retension: 7d }',
      'history.retension: unknown field',
    ],
  ])('rejects %s in one line naming the field', async (_name, history, expected) => {
    expect(await messageOf(`${history}\n`)).toBe(expected);
  });

  it('refuses a database URL written in the file, without repeating it', async () => {
    const message = await messageOf(
      'history: { store: postgres, url: "postgres://u:hunter2@db/beamscope" }\n',
    );
    expect(message).toMatch(
      /^history\.url: the PostgreSQL URL never goes in the configuration file/,
    );
    expect(message).not.toContain('hunter2');
  });
});
