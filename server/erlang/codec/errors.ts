import 'server-only';

import { BeamscopeError } from '../../errors';

/**
 * Bytes that are not a valid (or not a supported) External Term Format encoding, or that exceed a
 * decoding bound. The connection that received them should drop the frame or close; it never
 * means beamscope itself is broken.
 */
export class TermDecodeError extends BeamscopeError {
  override name = 'TermDecodeError';
  constructor(
    message: string,
    /** Byte offset (in the input given to the decoder) where the problem was found. */
    readonly offset: number,
    options: { cause?: unknown } = {},
  ) {
    super('erlang', 'term_decode', message, options);
  }
}

/** A value that cannot be sent as an Erlang term (a fractional `number`, an atom too long, …). */
export class TermEncodeError extends BeamscopeError {
  override name = 'TermEncodeError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('erlang', 'term_encode', message, options);
  }
}
