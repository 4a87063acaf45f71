import { describe, expect, it } from 'vitest';

import type { StoredObject } from '@/server/sandbox/kube-api/models';
import { EXPIRED, ObjectStore, TOO_NEW } from '@/server/sandbox/kube-api/store';

const object = (name: string, extra: Record<string, unknown> = {}): StoredObject => ({
  metadata: {
    name,
    namespace: 'default',
    uid: `uid-${name}`,
    resourceVersion: '',
    creationTimestamp: '2026-01-01T00:00:00Z',
  },
  ...extra,
});

describe('ObjectStore', () => {
  it('stamps every write with the next value of one global counter, as an opaque string', () => {
    const store = new ObjectStore();
    const pod = store.put('pods', object('a'));
    const slice = store.put(
      'endpointslices',
      object('s', { addressType: 'IPv4', endpoints: null }),
    );
    const again = store.put('pods', object('a', { spec: { x: 1 } }));
    expect([pod, slice, again].map((stored) => stored.metadata.resourceVersion)).toEqual([
      '1',
      '2',
      '3',
    ]);
    expect(store.currentRevision).toBe(3);
    const gone = store.remove('pods', 'default', 'a');
    expect(gone?.metadata.resourceVersion).toBe('4');
    expect(store.remove('pods', 'default', 'a')).toBeUndefined();
  });

  it('keeps lists in creation order when objects are replaced', () => {
    const store = new ObjectStore();
    store.put('pods', object('a'));
    store.put('pods', object('b'));
    store.put('pods', object('a', { changed: true }));
    expect(store.list('pods').map((stored) => stored.metadata.name)).toEqual(['a', 'b']);
  });

  it('replays the writes after a revision, with the previous object of each', () => {
    const store = new ObjectStore();
    store.put('pods', object('a'));
    store.put('pods', object('a', { v: 2 }));
    store.remove('pods', 'default', 'a');
    const changes = store.changesSince(1);
    expect(changes).not.toBe(EXPIRED);
    expect(
      (changes as Exclude<typeof changes, symbol>).map((change) => [change.type, change.revision]),
    ).toEqual([
      ['MODIFIED', 2],
      ['DELETED', 3],
    ]);
    expect(
      (changes as Exclude<typeof changes, symbol>)[0]!.previous?.metadata.resourceVersion,
    ).toBe('1');
    expect(store.changesSince(3)).toEqual([]);
    expect(store.changesSince(4)).toBe(TOO_NEW);
  });

  it('expires every resourceVersion handed out before a compaction', () => {
    const store = new ObjectStore();
    store.put('pods', object('a'));
    const listed = store.currentRevision;
    store.compact();
    expect(store.changesSince(listed)).toBe(EXPIRED);
    expect(store.changesSince(store.currentRevision)).toEqual([]);
    expect(store.listAt('pods', listed)).toBe(EXPIRED);
  });

  it('forgets the oldest half of its history past the limit', () => {
    const store = new ObjectStore(10);
    for (let index = 0; index < 11; index += 1) store.put('pods', object(`p${index}`));
    expect(store.oldestRevision).toBe(5);
    expect(store.changesSince(4)).toBe(EXPIRED);
    expect((store.changesSince(5) as unknown[]).length).toBe(6);
  });

  it('reconstructs a list as it was at an exact revision', () => {
    const store = new ObjectStore();
    store.put('pods', object('a', { v: 1 }));
    store.put('pods', object('b'));
    const before = store.currentRevision;
    store.put('pods', object('a', { v: 2 }));
    store.remove('pods', 'default', 'b');
    store.put('pods', object('c'));
    const past = store.listAt('pods', before) as StoredObject[];
    expect(past.map((stored) => [stored.metadata.name, stored.v ?? null])).toEqual([
      ['a', 1],
      ['b', null],
    ]);
  });

  it('tells subscribers about each write synchronously and stops on unsubscribe', () => {
    const store = new ObjectStore();
    const seen: string[] = [];
    const unsubscribe = store.subscribe((change) =>
      seen.push(`${change.type} ${change.object.metadata.name}`),
    );
    store.put('pods', object('a'));
    unsubscribe();
    store.put('pods', object('b'));
    expect(seen).toEqual(['ADDED a']);
  });
});
