import 'server-only';

/**
 * The Erlang External Term Format codec: the typed term model, decoding of untrusted bytes
 * (bounded and hardened), encoding in the forms OTP sends, equality, a JSON mapping for the
 * browser and Erlang-syntax formatting.
 */
export * from './terms';
export {
  decodeTerm,
  decodeTermAt,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_INFLATED_BYTES,
  type DecodeOptions,
} from './decode';
export { encodeTerm, preEncode } from './encode';
export { decodeAtomNames, decodeCachedAtomNames, decodeEqualBinaries } from './lists';
export { TermDecodeError, TermEncodeError } from './errors';
export { mapGet, termEquals } from './equality';
export {
  formatAtom,
  formatFloat,
  formatInteger,
  formatPid,
  formatReference,
  formatPort,
  formatTerm,
  type FormatOptions,
} from './format';
export { termToJson, type JsonValue, type TermToJsonOptions } from './json';
