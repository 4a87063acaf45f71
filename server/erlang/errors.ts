import 'server-only';

import { BeamscopeError } from '../errors';
import type { Term } from './codec/terms';

/**
 * The codes the distribution client raises (surface `erlang`). Callers branch on these, so they are
 * part of the contract: `auth_failed` (the cookie was rejected), the three "cannot reach" codes
 * (which layer refused), `timeout`, `node_down` (an established connection went away), `badrpc`
 * (the remote call itself failed), `protocol` (the peer broke the protocol), `frame_too_large`, and
 * `name_in_use` (another process holds a connection to the node under our name).
 */
export type ErlangErrorCode =
  | 'auth_failed'
  | 'epmd_unreachable'
  | 'dist_unreachable'
  | 'node_not_registered'
  | 'timeout'
  | 'node_down'
  | 'badrpc'
  | 'protocol'
  | 'frame_too_large'
  | 'invalid_node_name'
  | 'name_in_use';

/** The CLI exit codes: 2 for a rejected cookie, 3 for "nothing answered", 1 otherwise. */
const EXIT_CODES: Partial<Record<ErlangErrorCode, number>> = {
  auth_failed: 2,
  epmd_unreachable: 3,
  dist_unreachable: 3,
  node_not_registered: 3,
};

/**
 * A {@link BeamscopeError} of the `erlang` surface with the exit code its code implies.
 * `message` must never contain the cookie.
 */
export function erlangError(
  code: ErlangErrorCode,
  message: string,
  options: { cause?: unknown } = {},
): BeamscopeError {
  return new BeamscopeError('erlang', code, message, {
    cause: options.cause,
    exitCode: EXIT_CODES[code] ?? 1,
  });
}

/** True when `error` is a distribution error with the given code. */
export function isErlangError(error: unknown, code?: ErlangErrorCode): error is BeamscopeError {
  return (
    error instanceof BeamscopeError &&
    error.surface === 'erlang' &&
    (code === undefined || error.code === code)
  );
}

/** A remote call that ran and failed (`{badrpc, Reason}`); `reason` keeps the term for callers. */
export class BadRpcError extends BeamscopeError {
  constructor(
    message: string,
    /** The `Reason` of `{badrpc, Reason}`, e.g. `{'EXIT', {undef, ...}}` or `nodedown`. */
    readonly reason: Term,
  ) {
    super('erlang', 'badrpc', message);
  }
}
