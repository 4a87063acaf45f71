import 'server-only';

import { formatFun, formatInteger, formatPid, formatPort, formatReference } from './format';
import {
  Atom,
  BitBinary,
  Charlist,
  ErlFloat,
  ErlMap,
  ExportFun,
  ImproperList,
  OpaqueFun,
  PreEncoded,
  Pid,
  Port,
  Reference,
  Tuple,
  type Term,
} from './terms';

/** A value `JSON.stringify` writes as is. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Options of {@link termToJson}. */
export interface TermToJsonOptions {
  /**
   * Pids, references and ports become `{ pid | ref | port: text, node: 'name@host' }` instead of
   * bare text, for data where the node matters (registries spanning the cluster). Default false.
   */
  withNodes?: boolean;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function bitsToJson(bytes: Uint8Array, bitsInLastByte: number): JsonValue {
  const base64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
  if (bitsInLastByte === 8 || bytes.length === 0) {
    return utf8OrUndefined(bytes) ?? { base64 };
  }
  return { base64, bits: (bytes.length - 1) * 8 + bitsInLastByte };
}

/** The string a map key becomes in a JSON object, or undefined when it has none. */
function objectKey(key: Term): string | undefined {
  if (key instanceof Atom) return key.name;
  if (key instanceof Uint8Array) return utf8OrUndefined(key);
  return undefined;
}

function mapToJson(map: ErlMap, options: TermToJsonOptions): JsonValue {
  const keys = map.entries.map(([key]) => objectKey(key));
  const distinct = new Set(keys);
  if (keys.every((key) => key !== undefined) && distinct.size === keys.length) {
    // Object.fromEntries defines own properties, so a key like "__proto__" stays plain data.
    return Object.fromEntries(
      map.entries.map(([, value], index) => [keys[index] as string, termToJson(value, options)]),
    );
  }
  return {
    entries: map.entries.map(([key, value]) => [
      termToJson(key, options),
      termToJson(value, options),
    ]),
  };
}

/**
 * The JSON the browser gets for a term. Lossy by design (for display, not for sending back):
 * - integers: a `number` when within `Number.MAX_SAFE_INTEGER`, else a decimal string (beyond
 *   8192 bits a `16#…` hex string, which is linear to produce);
 *   floats: a `number`;
 * - atoms: their name, except `true`/`false` → booleans and `nil`/`undefined` → `null`;
 * - binaries: a string when valid UTF-8, else `{ base64 }`; bitstrings `{ base64, bits }`;
 * - charlists (STRING_EXT): a string; other lists and tuples: arrays;
 *   an improper list: `{ list: [...], tail }`;
 * - maps whose keys are all atoms or UTF-8 binaries (and stay distinct as strings): an object;
 *   other maps: `{ entries: [[key, value], ...] }`;
 * - pids: `'<0.123.0>'` — what `pid_to_list/1` prints on the pid's own node; references
 *   `'#Ref<0.1.2.3>'`, ports `'#Port<0.5>'`, funs `'fun m:f/1'` / `'#Fun<m.1.2>'`. With
 *   `withNodes`, pids/references/ports are `{ pid | ref | port, node }`.
 */
export function termToJson(term: Term, options: TermToJsonOptions = {}): JsonValue {
  if (typeof term === 'number') return term;
  if (typeof term === 'bigint') {
    return term >= BigInt(Number.MIN_SAFE_INTEGER) && term <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(term)
      : formatInteger(term);
  }
  if (term instanceof ErlFloat) return term.value;
  if (term instanceof Atom) {
    switch (term.name) {
      case 'true':
        return true;
      case 'false':
        return false;
      case 'nil':
      case 'undefined':
        return null;
      default:
        return term.name;
    }
  }
  if (term instanceof Tuple) return term.elements.map((element) => termToJson(element, options));
  if (Array.isArray(term)) return term.map((element) => termToJson(element, options));
  if (term instanceof Charlist) return term.value;
  if (term instanceof ImproperList) {
    return {
      list: term.elements.map((element) => termToJson(element, options)),
      tail: termToJson(term.tail, options),
    };
  }
  if (term instanceof Uint8Array) return bitsToJson(term, 8);
  if (term instanceof BitBinary) return bitsToJson(term.bytes, term.bitsInLastByte);
  if (term instanceof ErlMap) return mapToJson(term, options);
  if (term instanceof Pid) {
    return options.withNodes ? { pid: formatPid(term), node: term.node.name } : formatPid(term);
  }
  if (term instanceof Reference) {
    const text = formatReference(term);
    return options.withNodes ? { ref: text, node: term.node.name } : text;
  }
  if (term instanceof Port) {
    const text = formatPort(term);
    return options.withNodes ? { port: text, node: term.node.name } : text;
  }
  if (term instanceof ExportFun || term instanceof OpaqueFun) return formatFun(term);
  if (term instanceof PreEncoded) return termToJson(term.term, options);
  return null;
}
