import 'server-only';

import { getAccessGate } from './gate';

/** The request's client address as the startup hook proved it, or `unknown`, for audit lines. */
export function verifiedPeerOf(headers: Headers): string {
  return getAccessGate()?.peer(headers) ?? 'unknown';
}
