import 'server-only';

import type { ErlangCode } from '@/lib/codes';

import { BeamscopeError, isBeamscopeError } from '../errors';
import type { Term } from './codec/terms';

/**
 * The codes the distribution client raises (surface `erlang`), listed with their meaning in
 * `lib/codes.ts`. Callers branch on these, so they are part of the contract.
 */
export type ErlangErrorCode = ErlangCode;

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
): BeamscopeError<'erlang'> {
  return new BeamscopeError('erlang', code, message, {
    cause: options.cause,
    exitCode: EXIT_CODES[code] ?? 1,
  });
}

/** True when `error` is a distribution error with the given code. */
export function isErlangError(
  error: unknown,
  code?: ErlangErrorCode,
): error is BeamscopeError<'erlang'> {
  return isBeamscopeError(error, 'erlang') && (code === undefined || error.code === code);
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
