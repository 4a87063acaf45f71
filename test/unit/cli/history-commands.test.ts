import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState, TimelineEvent } from '@/lib/cluster-state';
import type { CommandIo } from '@/server/cli/command';
import { eventsCommandWith } from '@/server/cli/commands/events';
import { snapshotCommandWith } from '@/server/cli/commands/snapshot';
import { MemoryHistoryStore } from '@/server/history/memory';
import { HistoryRecorder } from '@/server/history/recorder';
import type { HistoryStore } from '@/server/history/store';

import { SimClock, SimCollector } from '../../support/sim-collector';
import { fullMesh, n, pod, stateOf } from '../lib/fixtures';

const mesh = (count: number, at: number) =>
  stateOf(
    Array.from({ length: count }, (_, index) => pod(`10.0.0.${index + 1}`)),
    fullMesh(Array.from({ length: count }, (_, index) => index + 1)),
    at,
  );

function capture(): CommandIo & { out: () => string } {
  let out = '';
  return {
    stdout: (text) => (out += text),
    stderr: () => {},
    stopped: new Promise(() => {}),
    out: () => out,
  };
}

describe('beamscope events and snapshot --at (read the recorded history)', () => {
  let dir: string;
  let config: string;
  const store = new MemoryHistoryStore();
  // Recorded over the last ten minutes: 2 nodes, a third joins 6 min ago, node 1 falls 3 min ago.
  const now = Date.now();
  const start = now - 10 * 60_000;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-cli-history-'));
    config = join(dir, 'beamscope.yaml');
    await writeFile(
      config,
      'clusters:\n  - id: sandbox\n    discovery: { mode: endpointSlices, service: myapp }\n    nodeNaming: { basename: myapp }\n    distribution: { cookieFile: ./cookie }\n',
    );
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
    clock.advance(3 * 60_000 - 1000);
    await recorder.stop();
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The store as each command opens it: the command closes its copy, the test keeps the store. */
  const opened = async (): Promise<HistoryStore> => ({
    kind: store.kind,
    open: () => store.open(),
    close: async () => {},
    append: (batch) => store.append(batch),
    claimWriter: (...args) => store.claimWriter(...args),
    retained: (id) => store.retained(id),
    lastObservation: (id) => store.lastObservation(id),
    stateAt: (id, at) => store.stateAt(id, at),
    timeline: (id, query) => store.timeline(id, query),
    nodeSeries: (...args) => store.nodeSeries(...args),
    compact: (...args) => store.compact(...args),
  });
  const events = eventsCommandWith(opened);
  const snapshot = snapshotCommandWith(opened);

  it('exports the events of a span as JSON, oldest first', async () => {
    const io = capture();
    expect(await events.run(['--config', config, '--since', '2h', '--json'], io)).toBe(0);
    const exported = JSON.parse(io.out()) as TimelineEvent[];
    expect(exported.map((event) => event.kind)).toEqual(['member_joined', 'node_down']);
  });

  it('exports CSV with a header, quoting what needs it, filtered by kind and node', async () => {
    const io = capture();
    const argv = ['--config', config, '--since', '2h', '--csv', '--kind', 'node_down'];
    expect(await events.run([...argv, '--node', n(1)], io)).toBe(0);
    const lines = io.out().trim().split('\n');
    expect(lines[0]).toBe('time,kind,severity,node,message,seq');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(',node_down,error,myapp@10.0.0.1,"myapp@10.0.0.1, ""down""",');
  });

  it('limits the span with --since and --until', async () => {
    const io = capture();
    const until = new Date(now - 4 * 60_000).toISOString();
    expect(await events.run(['--config', config, '--since', '8m', '--until', until], io)).toBe(0);
    expect(io.out()).toContain('member_joined');
    expect(io.out()).not.toContain('node_down');
    expect(io.out()).toMatch(/^1 events from /m);
  });

  it('refuses a bad span, kind or node as a usage error', async () => {
    for (const argv of [
      [],
      ['--since', 'yesterday'],
      ['--since', '1h', '--kind', 'nope'],
      ['--since', '1h', '--node', 'x'],
      ['--since', '1h', '--json', '--csv'],
    ])
      await expect(events.run(['--config', config, ...argv], capture())).rejects.toMatchObject({
        name: 'UsageError',
      });
  });

  it('prints the state recorded at --at, and refuses a moment outside retention', async () => {
    const io = capture();
    expect(await snapshot.run(['--config', config, '--at', '5m', '--json'], io)).toBe(0);
    const state = JSON.parse(io.out()) as ClusterState;
    expect(state.members.map((member) => member.node)).toEqual([n(1), n(2), n(3)]);
    const table = capture();
    await snapshot.run(['--config', config, '--at', new Date(start + 1000).toISOString()], table);
    expect(table.out()).toContain('partitions: 1');
    expect(table.out()).not.toContain('10.0.0.3');
    await expect(snapshot.run(['--config', config, '--at', '2h'], capture())).rejects.toMatchObject(
      { code: 'outside_retention', message: expect.stringContaining('its history holds') },
    );
  });
});
