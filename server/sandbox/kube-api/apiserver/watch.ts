import 'server-only';

// Watch: a chunked stream of JSON events, one a line, from a list's resourceVersion on (or from
// now, with the current objects as ADDED), with selector transitions, bookmarks, a timeout, and
// the ERROR event a real server sends for a revision it no longer has or has not reached.

import type { StoredObject } from '../models';
import { apiVersionOf } from '../resources';
import { EXPIRED, TOO_NEW, type Change } from '../store';
import type { HandlerContext } from './context';
import { isTrue, parseRevision, selection, selects, type ResourceRequest } from './request';
import { serverHeaders, statusObject, withKind } from './respond';
import { tableContentType, toTable } from './table';

/** The message of the ERROR event a watch from a compacted resourceVersion receives. */
export const WATCH_EXPIRED_MESSAGE = 'The resourceVersion for the provided watch is too old.';

const DEFAULT_WATCH_TIMEOUT_SECONDS = 1800;

/** An open watch stream, so the control surface can cut or close it. */
export interface OpenWatch {
  /** The resource watched (its plural name). */
  readonly resource: string;
  close(mode: 'reset' | 'close'): void;
}

/** Streams the watch `request` asks for; it stays in `watches` while it is open. */
export function serveWatch(
  request: ResourceRequest,
  context: HandlerContext,
  watches: Set<OpenWatch>,
): void {
  const { req, res, definition, namespace, name, query, table, headers } = request;
  const chosen = selection(definition, query);
  // A watch on /NAME is a watch with fieldSelector metadata.name=NAME.
  if (name) chosen.fields.push({ field: 'metadata.name', value: name, negated: false });
  const requested = query.get('resourceVersion') ?? '';
  const from = requested && requested !== '0' ? parseRevision(requested) : undefined;
  const timeoutText = query.get('timeoutSeconds');
  const timeoutSeconds =
    timeoutText && /^\d+$/.test(timeoutText) ? Number(timeoutText) : DEFAULT_WATCH_TIMEOUT_SECONDS;
  const bookmarks = isTrue(query.get('allowWatchBookmarks'));
  const { store } = context;

  res.writeHead(200, {
    'Content-Type': table ? tableContentType(table) : 'application/json',
    ...serverHeaders(),
    ...headers,
  });
  res.flushHeaders();

  let columnsSent = false;
  const write = (type: string, object: unknown) => {
    if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify({ type, object }) + '\n');
  };
  const emit = (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: StoredObject) => {
    if (table) {
      write(
        type,
        toTable(
          definition,
          [object],
          table,
          { resourceVersion: object.metadata.resourceVersion },
          !columnsSent,
        ),
      );
      columnsSent = true;
    } else {
      write(type, withKind(definition, object));
    }
  };
  const matches = (object: StoredObject | undefined) =>
    object !== undefined && selects(definition, chosen, namespace, object);

  // As the watch cache does: a write that moves an object into the selection is ADDED to this
  // watch, one that moves it out is DELETED (the old content, at the new resourceVersion).
  const deliver = (change: Change) => {
    if (change.resource !== definition.name) return;
    const now = matches(change.object) && change.type !== 'DELETED';
    const before = change.type === 'ADDED' ? false : matches(change.previous);
    if (change.type === 'DELETED') {
      if (before) emit('DELETED', change.object);
    } else if (now && before) {
      emit('MODIFIED', change.object);
    } else if (now) {
      emit('ADDED', change.object);
    } else if (before && change.previous) {
      emit('DELETED', {
        ...change.previous,
        metadata: {
          ...change.previous.metadata,
          resourceVersion: change.object.metadata.resourceVersion,
        },
      });
    }
  };

  const timers: NodeJS.Timeout[] = [];
  let unsubscribe = () => {};
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    unsubscribe();
    for (const timer of timers) clearTimeout(timer);
    watches.delete(openWatch);
  };
  const openWatch: OpenWatch = {
    resource: definition.name,
    close(mode) {
      finish();
      if (mode === 'reset') req.socket.destroy();
      else res.end();
    },
  };
  watches.add(openWatch);
  req.on('close', finish);
  res.on('close', finish);

  if (from === undefined) {
    for (const object of store.list(definition.name)) if (matches(object)) emit('ADDED', object);
  } else {
    const history = store.changesSince(from);
    if (history === EXPIRED || history === TOO_NEW) {
      write(
        'ERROR',
        history === EXPIRED
          ? statusObject(410, 'Expired', WATCH_EXPIRED_MESSAGE)
          : statusObject(
              504,
              'Timeout',
              `Too large resource version: ${from}, current: ${store.currentRevision}`,
            ),
      );
      openWatch.close('close');
      return;
    }
    for (const change of history) deliver(change);
  }
  unsubscribe = store.subscribe(deliver);

  if (bookmarks) {
    const interval = setInterval(() => {
      write('BOOKMARK', {
        kind: definition.kind,
        apiVersion: apiVersionOf(definition),
        metadata: { resourceVersion: String(store.currentRevision) },
      });
    }, context.bookmarkIntervalMs);
    timers.push(interval);
  }
  timers.push(setTimeout(() => openWatch.close('close'), timeoutSeconds * 1000));
}
