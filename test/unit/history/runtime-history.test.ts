import { describe, expect, it } from 'vitest';

import type { BeamscopeConfig } from '@/server/config';
import { MemoryHistoryStore } from '@/server/history/memory';
import { ClusterHistory, openProcessHistory } from '@/server/history/runtime-history';
import type { LogEntry } from '@/server/log';

import { SimClock, SimCollector } from '../../support/sim-collector';
import { fullMesh, pod, stateOf } from '../lib/fixtures';

const config = { clusters: [{ id: 'c1' }] } as unknown as BeamscopeConfig;

describe('the runtime history', () => {
  it('says why when the store cannot be opened, and live viewing goes on without a recorder', async () => {
    const log: LogEntry[] = [];
    const history = await openProcessHistory(
      config,
      (entry) => log.push(entry),
      async () => {
        throw new Error('unable to open database file /data/history.sqlite');
      },
    );
    const clock = new SimClock();
    const collector = new SimCollector('c1', stateOf([pod('10.0.0.1')], fullMesh([1])), clock);
    const cluster = new ClusterHistory(history, collector, () => {});
    expect(cluster.store).toBeNull();
    expect(cluster.status()).toEqual({
      state: 'error',
      reason: 'history store: unable to open database file /data/history.sqlite',
    });
    expect(log).toMatchObject([{ level: 'error', source: 'history' }]);
    await cluster.stop();
  });

  it('records each cluster into the one store, and a stop writes what was gathered', async () => {
    const store = new MemoryHistoryStore();
    const history = await openProcessHistory(
      config,
      () => {},
      async () => store,
    );
    const collector = new SimCollector(
      'c1',
      stateOf([pod('10.0.0.1')], fullMesh([1])),
      new SimClock(Date.now()),
    );
    const cluster = new ClusterHistory(history, collector, () => {});
    collector.publishEvent({ kind: 'pod_ready', severity: 'info', message: 'ready' });
    await cluster.stop();
    expect(cluster.status()).toEqual({ state: 'ok' });
    expect((await store.timeline('c1', { limit: 10 })).events).toHaveLength(1);
    expect(await store.retained('c1')).not.toBeNull();
  });
});
