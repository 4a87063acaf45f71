import 'server-only';

import { BeamscopeError } from '../errors';

/** How a response carries peer lists: whole, or relative to each node's partition. */
export type PeersForm = 'full' | 'compact';

/**
 * `?peers=` of a snapshot or event-stream request: `compact` (what the dashboard asks for: see
 * `lib/peer-wire.ts`) or `full`, the default, which every other client gets unchanged.
 */
export function peersForm(params: URLSearchParams): PeersForm {
  const values = params.getAll('peers');
  if (values.length === 0) return 'full';
  if (values.length === 1 && (values[0] === 'full' || values[0] === 'compact')) return values[0];
  throw new BeamscopeError('http', 'bad_request', '?peers= takes one of: full, compact');
}
