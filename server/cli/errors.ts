import 'server-only';

import { BeamscopeError, describeError } from '../errors';

export { describeError };

/** The exit code for an error that ended a command: the error's own when it has one. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof BeamscopeError) return error.exitCode;
  if (
    error &&
    typeof error === 'object' &&
    'exitCode' in error &&
    typeof error.exitCode === 'number'
  ) {
    return error.exitCode;
  }
  return 1;
}
