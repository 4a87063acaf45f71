import 'server-only';

/**
 * Tags of the External Term Format, as OTP's `erts/emulator/beam/external.h` and the
 * "External Term Format" chapter of the ERTS User's Guide name them.
 */
export const VERSION_MAGIC = 131;

export const Tag = {
  NEW_FLOAT: 70,
  BIT_BINARY: 77,
  COMPRESSED: 80,
  ATOM_CACHE_REF: 82,
  NEW_PID: 88,
  NEW_PORT: 89,
  NEWER_REFERENCE: 90,
  SMALL_INTEGER: 97,
  INTEGER: 98,
  FLOAT: 99,
  ATOM: 100,
  REFERENCE: 101,
  PORT: 102,
  PID: 103,
  SMALL_TUPLE: 104,
  LARGE_TUPLE: 105,
  NIL: 106,
  STRING: 107,
  LIST: 108,
  BINARY: 109,
  SMALL_BIG: 110,
  LARGE_BIG: 111,
  NEW_FUN: 112,
  EXPORT: 113,
  NEW_REFERENCE: 114,
  SMALL_ATOM: 115,
  MAP: 116,
  FUN: 117,
  ATOM_UTF8: 118,
  SMALL_ATOM_UTF8: 119,
  V4_PORT: 120,
  LOCAL: 121,
} as const;

/** Whether `tag` starts an atom in one of its four encodings. */
export function isAtomTag(tag: number | undefined): tag is number {
  return (
    tag === Tag.ATOM ||
    tag === Tag.SMALL_ATOM ||
    tag === Tag.ATOM_UTF8 ||
    tag === Tag.SMALL_ATOM_UTF8
  );
}

/** The most characters an atom may have (OTP's `MAX_ATOM_CHARACTERS`). */
export const MAX_ATOM_CHARACTERS = 255;

/** The most 32-bit words a reference carries (OTP's `ERTS_MAX_REF_NUMBERS`). */
export const MAX_REFERENCE_WORDS = 5;

/** The most elements STRING_EXT carries; longer byte lists go as LIST_EXT. */
export const MAX_STRING_EXT_LENGTH = 0xffff;

export const INT32_MIN = -0x8000_0000;
export const INT32_MAX = 0x7fff_ffff;
