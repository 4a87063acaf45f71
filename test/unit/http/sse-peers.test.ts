import { afterEach, describe, expect, it } from 'vitest';

import { diffClusterState } from '@/lib/cluster-diff';
import type { ClusterState } from '@/lib/cluster-state';
import { applyDeltaMessage, applySnapshotMessage } from '@/lib/dashboard';
import { compactDelta } from '@/lib/peer-wire';
import type { CollectorMessage } from '@/server/collector/collector';
import { BeamscopeError } from '@/server/errors';
import { openEventStream, type EventStreamSource } from '@/server/http/sse';
import { peersForm } from '@/server/http/peers-param';

import { SseReader } from '../../support/sse';
import { fullMesh, ip, n, pod, side, stateOf } from '../lib/fixtures';

const readers: SseReader[] = [];
afterEach(async () => {
  for (const reader of readers.splice(0)) await reader.cancel();
});

const pods = [1, 2, 3, 4].map((i) => pod(ip(i)));
const whole = stateOf(pods, fullMesh([1, 2, 3, 4]));
const split = stateOf(pods, [
  side(n(1), [n(2)]),
  side(n(2), [n(1)]),
  side(n(3), [n(4)]),
  side(n(4), [n(3)]),
]);

/** A source holding `whole` at seq 1 and the delta to `split` at seq 2 (the stream's seam). */
function source(): EventStreamSource {
  const delta = diffClusterState(whole, split)!;
  const message: CollectorMessage = {
    seq: 2,
    type: 'delta',
    delta,
    compact: compactDelta(delta, split),
  };
  return {
    epoch: 'beef01',
    snapshot: () => ({ epoch: 'beef01', seq: 1, state: whole, timeline: [] }),
    messagesSince: (seq) => (seq === 1 ? [message] : null),
    subscribe: () => () => undefined,
  };
}

async function received(peers: 'full' | 'compact', lastEventId?: string) {
  const reader = new SseReader(
    openEventStream(source(), { peers, ...(lastEventId ? { lastEventId } : {}) }),
  );
  readers.push(reader);
  await reader.waitFor((events) => events.length > 0);
  return reader.messages.map((event) => JSON.parse(event.data!) as Record<string, unknown>);
}

describe('the event stream with ?peers=compact', () => {
  it('sends a whole mesh as "every other node of the partition" and the page expands it', async () => {
    const [compact] = await received('compact');
    const [full] = await received('full');
    const { state } = compact as {
      state: { packed: { beam: { sees?: unknown } }; members: Array<{ beam: { sees?: unknown } }> };
    };
    // Every member's list is "all of my partition": said once, in the defaults members are
    // packed against (lib/member-pack.ts), and by none of the members.
    expect(state.packed.beam.sees).toEqual({ except: [] });
    expect(state.members.map((member) => member.beam.sees)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(JSON.stringify(compact).length).toBeLessThan(JSON.stringify(full).length);
    const page = { cluster: {}, at: 0, epoch: 'beef01', seq: 0, state: whole, timeline: [] };
    const snapshot = applySnapshotMessage(page as never, compact as never, 0);
    expect(snapshot?.state).toEqual(whole);
  });

  it('sends a delta the page applies to reach the next state', async () => {
    const [delta] = await received('compact', 'beef01-1');
    const page = { cluster: {}, at: 0, epoch: 'beef01', seq: 1, state: whole, timeline: [] };
    const next = applyDeltaMessage(page as never, delta as never);
    expect(next?.state as ClusterState).toEqual(split);
    // Each side of the split sees all of its partition: nothing named.
    const changed = (delta as { delta: { changed: Array<{ beam?: { sees?: unknown } }> } }).delta
      .changed;
    expect(changed.map((patch) => patch.beam?.sees)).toEqual(
      Array.from({ length: 4 }, () => ({ except: [] })),
    );
  });

  it('sends a live message to clients of both forms, each in its own (encoded once per form)', async () => {
    const listeners = new Set<(message: CollectorMessage) => void>();
    const held = source();
    const live: EventStreamSource = {
      ...held,
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const open = (peers: 'full' | 'compact') => {
      const reader = new SseReader(openEventStream(live, { peers }));
      readers.push(reader);
      return reader;
    };
    const clients = [open('full'), open('compact'), open('full'), open('compact')];
    for (const client of clients) await client.waitFor((events) => events.length > 0);
    const [message] = held.messagesSince(1)!;
    for (const listener of listeners) listener(message!);
    for (const client of clients) await client.waitFor((events) => events.length > 1);
    const deltas = clients.map((client) => client.messages[1]!.data!);
    expect(deltas[0]).toBe(deltas[2]);
    expect(deltas[1]).toBe(deltas[3]);
    expect(JSON.parse(deltas[0]!)).toEqual({ seq: 2, delta: diffClusterState(whole, split) });
    expect(JSON.parse(deltas[1]!)).toEqual({
      seq: 2,
      delta: compactDelta(diffClusterState(whole, split)!, split),
    });
  });

  it('is asked for by ?peers=compact, and anything else but full is a 400', () => {
    expect(peersForm(new URLSearchParams(''))).toBe('full');
    expect(peersForm(new URLSearchParams('peers=compact'))).toBe('compact');
    expect(() => peersForm(new URLSearchParams('peers=tiny'))).toThrow(BeamscopeError);
    expect(() => peersForm(new URLSearchParams('peers=full&peers=compact'))).toThrow(
      '?peers= takes one of: full, compact',
    );
  });
});
