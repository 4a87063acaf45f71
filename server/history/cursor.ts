import 'server-only';

// The timeline's paging cursor: opaque to clients (base64url of a versioned form of the store's
// event id), checked on the way back in so an altered cursor is a clear 400, not a silent page.

import { BeamscopeError } from '../errors';

const PREFIX = 'e1.';
/** A store id: a positive whole number, as the stores hand them out. */
const ID = /^[1-9][0-9]{0,15}$/;

/** The largest page a store returns, whatever `limit` asks for. */
export const MAX_TIMELINE_PAGE = 1000;

export function encodeCursor(id: number): string {
  return Buffer.from(`${PREFIX}${id}`, 'utf8').toString('base64url');
}

/** The event id a cursor stands for; a `bad_cursor` error when the text is not one of ours. */
export function decodeCursor(cursor: string): number {
  const invalid = () =>
    new BeamscopeError(
      'history',
      'bad_cursor',
      'cursor: expected the `next` value of a previous timeline page, unchanged',
    );
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) throw invalid();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(PREFIX)) throw invalid();
  const digits = text.slice(PREFIX.length);
  if (!ID.test(digits)) throw invalid();
  const id = Number(digits);
  if (!Number.isSafeInteger(id)) throw invalid();
  return id;
}

/** A page size within [1, MAX_TIMELINE_PAGE]. */
export function pageSize(limit: number): number {
  if (!Number.isFinite(limit)) return MAX_TIMELINE_PAGE;
  return Math.min(MAX_TIMELINE_PAGE, Math.max(1, Math.floor(limit)));
}

/** A store failure an operator can act on, keeping the driver's error as the cause for the log. */
export function unavailable(what: string, cause: unknown): BeamscopeError<'history'> {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new BeamscopeError('history', 'history_unavailable', `${what}: ${reason}`, { cause });
}
