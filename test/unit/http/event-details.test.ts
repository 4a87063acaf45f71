import { afterEach, describe, expect, it } from 'vitest';

import type { KubernetesMember } from '@/lib/members';
import type { ClusterConfig } from '@/server/config';
import { Collector } from '@/server/collector/collector';
import { BeamscopeError } from '@/server/errors';
import { eventDetails } from '@/server/http/cluster-api';

import { FixedSource } from '../../support/fixed-source';
import { ip, pod } from '../lib/fixtures';

const CONFIG: ClusterConfig = {
  id: 'test',
  displayName: 'test',
  discovery: { mode: 'endpointSlices', service: 'myapp' },
  nodeNaming: { mode: 'ip', basename: 'myapp' },
  distribution: { cookieEnv: 'COOKIE' },
};

let collector: Collector | undefined;

afterEach(() => {
  collector?.stop();
});

/** A collector whose source goes from no pods to `count` in one change. */
function scaledTo(count: number, options: { maxDetails?: number } = {}) {
  const members: KubernetesMember[] = [];
  const source = new FixedSource(members);
  collector = new Collector({
    clusterId: 'test',
    localNode: 'beamscope@127.0.0.1',
    source,
    manager: null,
    pollIntervalMs: 60_000,
    ...options,
  }).start();
  const scale = (to: number) => {
    members.splice(0, members.length, ...Array.from({ length: to }, (_, i) => pod(ip(i + 1))));
    source.emit('members', members);
    collector!.flush();
  };
  scale(count);
  return { collector, scale };
}

const code = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return error instanceof BeamscopeError ? error.code : String(error);
  }
  return 'no error';
};

describe('GET /api/clusters/{id}/events/{seq}', () => {
  it('serves a mass join as one event on the stream, and its members a page at a time', () => {
    const { collector } = scaledTo(1500);
    const timeline = collector.snapshot().timeline;
    expect(timeline.map((event) => event.message.slice(0, 22))).toEqual(['1,500 members joined: ']);
    const [joined] = timeline;
    expect(joined!.members?.count).toBe(1500);
    expect(joined!.members?.sample).toHaveLength(5);
    expect(joined!.expandable).toBe(true);

    const cluster = { collector, config: CONFIG };
    const first = eventDetails(cluster, String(joined!.seq), new URLSearchParams());
    expect(first.event.seq).toBe(joined!.seq);
    expect(first.members).toMatchObject({ total: 1500, offset: 0 });
    expect(first.members?.items).toHaveLength(1000);
    const rest = eventDetails(
      cluster,
      String(joined!.seq),
      new URLSearchParams('offset=1000&limit=10000'),
    );
    expect(rest.members?.items).toHaveLength(500);
    expect(rest.members?.items.at(-1)?.node).toBe(`myapp@${ip(1500)}`);
  });

  it('answers 400 for a malformed sequence number or page, 404 once the list is gone', () => {
    const { collector, scale } = scaledTo(20, { maxDetails: 1 });
    const cluster = { collector, config: CONFIG };
    const seq = String(collector.snapshot().timeline[0]!.seq);
    expect(code(() => eventDetails(cluster, 'abc', new URLSearchParams()))).toBe('bad_request');
    expect(code(() => eventDetails(cluster, seq, new URLSearchParams('limit=-1')))).toBe(
      'bad_request',
    );
    expect(code(() => eventDetails(cluster, seq, new URLSearchParams('limit=10001')))).toBe(
      'bad_request',
    );
    expect(code(() => eventDetails(cluster, seq, new URLSearchParams('offset=1&offset=2')))).toBe(
      'bad_request',
    );
    expect(code(() => eventDetails(cluster, '99999', new URLSearchParams()))).toBe(
      'event_not_found',
    );
    // A second storm takes the one place kept for lists: the first one's is gone.
    scale(0);
    expect(code(() => eventDetails(cluster, seq, new URLSearchParams()))).toBe('event_not_found');
    const left = collector.snapshot().timeline.at(-1)!;
    expect(left.message).toMatch(/^20 members left: /);
    expect(eventDetails(cluster, String(left.seq), new URLSearchParams()).members?.total).toBe(20);
  });
});
