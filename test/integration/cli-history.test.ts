import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState, TimelineEvent } from '@/lib/cluster-state';
import { HistoryRecorder } from '@/server/history/recorder';
import type { HistoryStore } from '@/server/history/store';

import { runBeamscope } from '../support/cli';
import { SimClock, SimCollector } from '../support/sim-collector';
import { fullMesh, n, pod, stateOf } from '../unit/lib/fixtures';

const mesh = (count: number, at: number) =>
  stateOf(
    Array.from({ length: count }, (_, index) => pod(`10.0.0.${index + 1}`)),
    fullMesh(Array.from({ length: count }, (_, index) => index + 1)),
    at,
  );

/**
 * `beamscope events` and `snapshot --at` as a user runs them, against a SQLite history a
 * recorder wrote (as the server writes it): the command opens the configured file itself.
 */
describe('beamscope events / snapshot --at on a SQLite history', () => {
  let dir: string;
  let config: string;
  const now = Date.now();
  const start = now - 10 * 60_000;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-cli-history-'));
    config = join(dir, 'beamscope.yaml');
    await writeFile(
      config,
      [
        'clusters:',
        '  - id: sandbox',
        '    discovery: { mode: endpointSlices, service: myapp }',
        '    nodeNaming: { basename: myapp }',
        '    distribution: { cookieFile: ./cookie }',
        'history:',
        '  store: sqlite',
        `  path: ${join(dir, 'history')}`,
        '',
      ].join('\n'),
    );
    // A variable specifier: the SQLite store is its own module, loaded as the server loads it.
    const specifier = '@/server/history/sqlite';
    const { SqliteHistoryStore } = (await import(specifier)) as {
      SqliteHistoryStore: new (options: { directory: string }) => HistoryStore;
    };
    const store = new SqliteHistoryStore({ directory: join(dir, 'history') });
    await store.open();
    const clock = new SimClock(start);
    const collector = new SimCollector('sandbox', mesh(2, start), clock);
    const recorder = new HistoryRecorder({
      collector,
      store,
      holder: 'test',
      now: clock.now,
      flushIntervalMs: 0,
    }).start();
    clock.advance(4 * 60_000);
    collector.set(mesh(3, clock.now()), [
      { kind: 'member_joined', severity: 'info', message: 'myapp@10.0.0.3 joined', node: n(3) },
    ]);
    await recorder.flush();
    clock.advance(3 * 60_000);
    collector.set(mesh(3, clock.now()), [
      { kind: 'node_down', severity: 'error', message: 'myapp@10.0.0.1, "down"', node: n(1) },
    ]);
    clock.advance(2 * 60_000);
    await recorder.stop();
    await store.close();
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exports the recorded events as JSON and CSV', async () => {
    const json = await runBeamscope(['events', '--config', config, '--since', '1h', '--json']);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const events = JSON.parse(json.stdout) as TimelineEvent[];
    expect(events.map((event) => event.kind)).toEqual(['member_joined', 'node_down']);
    const csv = await runBeamscope(['events', '--config', config, '--since', '1h', '--csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe('time,kind,severity,node,message,seq');
    expect(lines[2]).toContain('"myapp@10.0.0.1, ""down"""');
  });

  it('prints the state recorded at a past moment, and names the retained span outside it', async () => {
    const at = await runBeamscope(['snapshot', '--config', config, '--at', '4m', '--json']);
    expect(at.code).toBe(0);
    const state = JSON.parse(at.stdout) as ClusterState;
    expect(state.members.map((member) => member.node)).toEqual([n(1), n(2), n(3)]);
    const outside = await runBeamscope(['snapshot', '--config', config, '--at', '3h']);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain('its history holds');
  });
});
