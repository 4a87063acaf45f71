import 'server-only';

// The emulated API's etcd: the objects, one revision counter and the history watches resume from.

import { HttpError } from './apiserver/respond';
import type { ObjectsByResource, ResourceName, StoredObject } from './models';
import { invalidStatus } from './validation';

/** One write, as the watch history keeps it. `previous` is the object before the write. */
export interface Change {
  revision: number;
  resource: ResourceName;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: StoredObject;
  previous?: StoredObject;
}

/** Outcome of asking for history from a resourceVersion the store no longer has. */
export const EXPIRED = Symbol('expired');
/** Outcome of asking for a resourceVersion the store has not reached. */
export const TOO_NEW = Symbol('too-new');

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/**
 * The object store behind the emulated API: one global revision counter (as etcd's), every
 * resource's objects, and a bounded history of writes for watches. The revision is exposed only as
 * an opaque decimal string; it is compared as a number here because this is the server that issues it.
 *
 * Reads are typed by resource, writes are not: every write the sandbox makes comes from a builder
 * typed with its resource's model (cluster/, objects.ts), and the store's own tests write bare ones.
 */
export class ObjectStore {
  private revision = 0;
  /** Watches and exact lists from a revision below this are answered with 410 Expired. */
  private oldestServable = 0;
  private readonly objects = new Map<ResourceName, Map<string, StoredObject>>();
  private history: Change[] = [];
  private readonly listeners = new Set<(change: Change) => void>();

  constructor(private readonly historyLimit = 5000) {}

  /** The revision of the latest write: what a list reports as its resourceVersion. */
  get currentRevision(): number {
    return this.revision;
  }

  /** The oldest revision a watch may still start from. */
  get oldestRevision(): number {
    return this.oldestServable;
  }

  private table(resource: ResourceName): Map<string, StoredObject> {
    let table = this.objects.get(resource);
    if (!table) {
      table = new Map();
      this.objects.set(resource, table);
    }
    return table;
  }

  /** Every current object of `resource`, oldest first. Treat the result as read-only. */
  list<R extends ResourceName>(resource: R): Array<ObjectsByResource[R]> {
    return [...this.table(resource).values()] as Array<ObjectsByResource[R]>;
  }

  get<R extends ResourceName>(
    resource: R,
    namespace: string,
    name: string,
  ): ObjectsByResource[R] | undefined {
    return this.table(resource).get(key(namespace, name)) as ObjectsByResource[R] | undefined;
  }

  /**
   * Creates or replaces an object, stamping the next resourceVersion; returns the stored copy.
   * Throws an HttpError with the real server's 422 Invalid Status, storing nothing, for an object
   * a real API server would refuse (validation.ts): every create, update or patch comes here.
   */
  put(resource: ResourceName, object: StoredObject): StoredObject {
    const refused = invalidStatus(resource, object);
    if (refused) throw new HttpError(refused);
    const table = this.table(resource);
    const id = key(object.metadata.namespace, object.metadata.name);
    const previous = table.get(id);
    this.revision += 1;
    const stored: StoredObject = structuredClone(object);
    stored.metadata.resourceVersion = String(this.revision);
    // Map.set keeps an existing key's position, so lists stay in creation order.
    table.set(id, stored);
    this.record({
      revision: this.revision,
      resource,
      type: previous ? 'MODIFIED' : 'ADDED',
      object: stored,
      previous,
    });
    return stored;
  }

  /** Removes an object; its last state, stamped with the deletion's resourceVersion, goes to watches. */
  remove(resource: ResourceName, namespace: string, name: string): StoredObject | undefined {
    const table = this.table(resource);
    const previous = table.get(key(namespace, name));
    if (!previous) return undefined;
    table.delete(key(namespace, name));
    this.revision += 1;
    const gone: StoredObject = structuredClone(previous);
    gone.metadata.resourceVersion = String(this.revision);
    this.record({ revision: this.revision, resource, type: 'DELETED', object: gone, previous });
    return gone;
  }

  /** Writes after `revision`, or EXPIRED when history no longer reaches back that far. */
  changesSince(revision: number): Change[] | typeof EXPIRED | typeof TOO_NEW {
    if (revision < this.oldestServable) return EXPIRED;
    if (revision > this.revision) return TOO_NEW;
    const first = this.history.findIndex((change) => change.revision > revision);
    return first < 0 ? [] : this.history.slice(first);
  }

  /** The objects of `resource` as they were at `revision` (a list with resourceVersionMatch=Exact). */
  listAt(
    resource: ResourceName,
    revision: number,
  ): StoredObject[] | typeof EXPIRED | typeof TOO_NEW {
    const changes = this.changesSince(revision);
    if (typeof changes === 'symbol') return changes;
    const state = new Map(
      this.list(resource).map((object) => [
        key(object.metadata.namespace, object.metadata.name),
        object,
      ]),
    );
    for (const change of [...changes].reverse()) {
      if (change.resource !== resource) continue;
      const id = key(change.object.metadata.namespace, change.object.metadata.name);
      if (change.type === 'ADDED') state.delete(id);
      else if (change.previous) state.set(id, change.previous);
    }
    return [...state.values()];
  }

  /**
   * Forgets all history, as an etcd compaction followed by a watch-cache restart would: every
   * resourceVersion handed out so far becomes too old to watch from (410 Expired).
   */
  compact(): void {
    this.revision += 1;
    this.oldestServable = this.revision;
    this.history = [];
  }

  /** Calls `listener` synchronously after every write; returns the unsubscribe function. */
  subscribe(listener: (change: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private record(change: Change): void {
    this.history.push(change);
    if (this.history.length > this.historyLimit) {
      // Drop the older half at once rather than one entry per write.
      this.history = this.history.slice(Math.floor(this.historyLimit / 2));
      this.oldestServable = this.history[0]!.revision - 1;
    }
    for (const listener of [...this.listeners]) listener(change);
  }
}
