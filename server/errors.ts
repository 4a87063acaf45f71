import 'server-only';

import type { CodesBySurface, ErrorSurface } from '@/lib/codes';

/**
 * The part of beamscope an error belongs to, so the dashboard can show it where it happened
 * (a source, a member) and the CLI can pick an exit code. Each surface has a closed set of codes.
 */
export type { ErrorCode, ErrorSurface } from '@/lib/codes';

const BRAND = Symbol.for('beamscope.BeamscopeError');

/**
 * The one error type for failures an operator can act on. `message` is written for the operator
 * and must never carry a secret; `cause` keeps the underlying error for the server log.
 */
export class BeamscopeError<S extends ErrorSurface = ErrorSurface> extends Error {
  override name = 'BeamscopeError';
  /** The brand {@link BeamscopeError.[Symbol.hasInstance]} looks for. */
  readonly [BRAND] = true;

  /**
   * Next bundles instrumentation and each route handler separately, so one error class exists
   * several times in a server process: an error thrown by the runtime (created in one bundle) and
   * caught in a route (another bundle) would fail a plain `instanceof`. The brand is a registered
   * symbol, the same in every copy. Subclasses keep the ordinary prototype check.
   */
  // The `this` type makes `instanceof` narrow to the class it is called on, subclasses included.
  static override [Symbol.hasInstance]<T>(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    this: new (...args: any[]) => T,
    value: unknown,
  ): value is T {
    if ((this as unknown) !== BeamscopeError)
      return Function.prototype[Symbol.hasInstance].call(this, value);
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [BRAND]?: unknown })[BRAND] === true
    );
  }

  constructor(
    readonly surface: S,
    /** A stable machine-readable code of the surface, e.g. `config_invalid`, `rbac_forbidden`. */
    readonly code: CodesBySurface[S],
    message: string,
    options: { cause?: unknown; exitCode?: number; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options.exitCode ?? 1;
    this.details = options.details;
  }
  /**
   * Fields the API's error body carries beside the code and the message (what a client acts on,
   * e.g. the retained range of `outside_retention`); like the message, never a secret.
   */
  readonly details: Record<string, unknown> | undefined;
  /** The process exit code the CLI uses when this error ends a command. */
  readonly exitCode: number;
}

/** True when `error` is a {@link BeamscopeError} of `surface`, typed with that surface's codes. */
export function isBeamscopeError<S extends ErrorSurface>(
  error: unknown,
  surface: S,
): error is BeamscopeError<S> {
  return error instanceof BeamscopeError && error.surface === surface;
}

/** A readable one-line description of any thrown value, without a stack trace. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
