import 'server-only';

import { BeamscopeError, describeError } from '../../errors';
import { decodeTerm } from '../codec/decode';
import { decodeCachedAtomNames } from '../codec/lists';
import { isErlangError } from '../errors';
import { Atom, Charlist, ImproperList, Pid, Tuple, type Term } from '../codec/terms';

/**
 * Readers for probe replies. A node that answers with a shape the catalogue does not expect
 * (another OTP release, a library version with a different table layout) raises
 * {@link ProbeReplyError}, which marks that one field as failed instead of crashing the probe.
 */
export class ProbeReplyError extends BeamscopeError {
  constructor(what: string) {
    super('erlang', 'probe_unexpected_reply', `unexpected reply: expected ${what}`);
  }
}

/** A failure recorded against one probe field: JSON-friendly, never a secret. */
export interface ProbeError {
  code: string;
  message: string;
}

/** The {@link ProbeError} for anything a probe call threw. */
export function toProbeError(error: unknown): ProbeError {
  if (error instanceof BeamscopeError) return { code: error.code, message: error.message };
  return { code: 'probe_failed', message: describeError(error) };
}

/**
 * True when the remote call itself raised (`{badrpc, {'EXIT', _}}`, e.g. `badarg` or `undef`),
 * as opposed to the connection failing or timing out: for detection that means "not there".
 */
export function isRemoteException(error: unknown): boolean {
  return isErlangError(error, 'badrpc');
}

/** A whole number; Erlang bignums arrive as `bigint` and are converted (counts fit easily). */
export function asInteger(term: Term, what = 'an integer'): number {
  if (typeof term === 'number' && Number.isInteger(term)) return term;
  if (typeof term === 'bigint') return Number(term);
  throw new ProbeReplyError(what);
}

/** The name of an atom. */
export function asAtomName(term: Term, what = 'an atom'): string {
  if (term instanceof Atom) return term.name;
  throw new ProbeReplyError(what);
}

/** True when `term` is the atom `name`. */
export function isAtom(term: Term | undefined, name: string): boolean {
  return term instanceof Atom && term.name === name;
}

/** A proper list's elements; a STRING_EXT charlist is a list of small integers. */
export function asList(term: Term, what = 'a list'): Term[] {
  if (Array.isArray(term)) return term;
  if (term instanceof Charlist) return Array.from(term.value, (char) => char.charCodeAt(0));
  throw new ProbeReplyError(what);
}

/** Text from a charlist (either list form) or a UTF-8 binary. */
export function asText(term: Term, what = 'a string'): string {
  if (term instanceof Charlist) return term.value;
  if (term instanceof Uint8Array) return Buffer.from(term).toString('utf8');
  if (Array.isArray(term) && term.every((code) => typeof code === 'number')) {
    return String.fromCodePoint(...(term as number[]));
  }
  throw new ProbeReplyError(what);
}

/** A tuple of exactly `arity` elements. */
export function asTuple(term: Term, arity: number, what = `a ${arity}-tuple`): Term[] {
  if (term instanceof Tuple && term.arity === arity) return term.elements;
  throw new ProbeReplyError(what);
}

/** The value for `key` in a proplist of `{Atom, Value}` pairs. */
export function proplistGet(list: Term[], key: string): Term | undefined {
  for (const entry of list) {
    if (entry instanceof Tuple && entry.arity === 2 && isAtom(entry.at(0), key)) return entry.at(1);
  }
  return undefined;
}

/** A pid as JSON: its node and the familiar `<id.serial>` numbers (node-independent). */
export interface PidRef {
  node: string;
  id: number;
  serial: number;
}

export function asPid(term: Term, what = 'a pid'): PidRef {
  if (term instanceof Pid) return { node: term.node.name, id: term.id, serial: term.serial };
  throw new ProbeReplyError(what);
}

/** Caps a list for a report, saying whether anything was left out. */
export function capList<T>(items: T[], cap: number): { items: T[]; truncated: boolean } {
  return items.length > cap
    ? { items: items.slice(0, cap), truncated: true }
    : { items, truncated: false };
}

/** A short Erlang-syntax rendering of a small term (pg group names, registry keys). */
export function describeKey(term: Term): string {
  if (term instanceof Atom) return term.name;
  if (typeof term === 'number' || typeof term === 'bigint') return String(term);
  if (term instanceof Uint8Array) return `<<"${Buffer.from(term).toString('utf8')}">>`;
  if (term instanceof Charlist) return JSON.stringify(term.value);
  if (term instanceof Tuple) return `{${term.elements.map(describeKey).join(',')}}`;
  if (Array.isArray(term)) return `[${term.map(describeKey).join(',')}]`;
  if (term instanceof ImproperList) return `[${term.elements.map(describeKey).join(',')}|…]`;
  if (term instanceof Pid) return `<${term.node.name}.${term.id}.${term.serial}>`;
  return '…';
}

/**
 * The names of an encoded list of atoms (node names), read from the bytes through the atom cache
 * (`decodeCachedAtomNames`): no term built, each name's string shared. Anything else is read the
 * general way, for its error.
 */
export function atomNamesOf(bytes: Uint8Array, what: string): string[] {
  return skimmedOrDecoded(
    bytes,
    decodeCachedAtomNames,
    (term) => asList(term).map((name) => asAtomName(name, 'a node name')),
    what,
  );
}

/**
 * A reply read by its skimming reader, or, when that declines (another form) or fails
 * (malformed bytes), decoded and read the general way: the general reader's answer or error.
 */
export function skimmedOrDecoded<T>(
  bytes: Uint8Array,
  skim: (bytes: Uint8Array) => T | undefined,
  read: (reply: Term) => T,
  what: string,
): T {
  let skimmed: T | undefined;
  try {
    skimmed = skim(bytes);
  } catch {
    // Malformed somewhere: the general decoder below says where.
  }
  if (skimmed !== undefined) return skimmed;
  let term: Term;
  try {
    term = decodeTerm(bytes);
  } catch (error) {
    throw new ProbeReplyError(`${what} (${describeError(error)})`);
  }
  return read(term);
}
