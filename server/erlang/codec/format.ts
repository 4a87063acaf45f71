import 'server-only';

import { decodeFunInfo } from './decode';
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

/** Options of {@link formatTerm}. */
export interface FormatOptions {
  /** Cut the text at about this many characters, ending it with `...`. Default: no limit. */
  maxLength?: number;
  /** Print `...` for anything nested deeper than this. Default 100. */
  maxDepth?: number;
}

const RESERVED_WORDS = new Set(
  (
    'after and andalso band begin bnot bor bsl bsr bxor case catch cond div end fun if let ' +
    'maybe not of or orelse receive rem try when xor else'
  ).split(' '),
);

const ESCAPES: Record<string, string> = {
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
  '\v': '\\v',
  '\x1b': '\\e',
  '\x7f': '\\d',
  '\\': '\\\\',
};

function quote(text: string, quoteChar: "'" | '"'): string {
  let out = quoteChar;
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (char === quoteChar) out += '\\' + char;
    else if (ESCAPES[char] !== undefined) out += ESCAPES[char];
    else if (code < 0x20 || (code >= 0x80 && code < 0xa0)) out += `\\x{${code.toString(16)}}`;
    else out += char;
  }
  return out + quoteChar;
}

/** An atom as Erlang source writes it: bare when it can be, else single-quoted. */
export function formatAtom(atom: Atom): string {
  const name = atom.name;
  if (/^[a-z][A-Za-z0-9_@]*$/.test(name) && !RESERVED_WORDS.has(name)) return name;
  return quote(name, "'");
}

/** A float as Erlang prints it: always with a `.` and an unsigned-exponent `e`. */
export function formatFloat(value: number): string {
  if (Object.is(value, -0)) return '-0.0';
  const text = String(value);
  const [mantissa = text, exponent] = text.split('e');
  const withPoint = mantissa.includes('.') ? mantissa : `${mantissa}.0`;
  return exponent === undefined ? withPoint : `${withPoint}e${exponent.replace('+', '')}`;
}

const DECIMAL_LIMIT = 1n << 8192n;

/**
 * An integer in Erlang syntax. Decimal conversion of a huge bignum is superlinear (a 1 MB one
 * takes seconds), so beyond 8192 bits it is written in base 16 (`16#1F…`), which is linear.
 */
export function formatInteger(value: number | bigint): string {
  if (typeof value === 'number') return String(value);
  const magnitude = value < 0n ? -value : value;
  if (magnitude < DECIMAL_LIMIT) return value.toString();
  return `${value < 0n ? '-' : ''}16#${magnitude.toString(16).toUpperCase()}`;
}

function isPrintable(code: number): boolean {
  return (
    (code >= 0x20 && code !== 0x7f && (code < 0x80 || code >= 0xa0)) ||
    code === 0x0a ||
    code === 0x09 ||
    code === 0x0d
  );
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of a binary when it is valid UTF-8 and printable, else `undefined`. */
export function printableUtf8(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  for (const char of text) if (!isPrintable(char.codePointAt(0) as number)) return undefined;
  return text;
}

/** Pid text as `pid_to_list/1` prints it on the pid's own node (where it is local). */
export function formatPid(pid: Pid): string {
  return `<0.${pid.id}.${pid.serial}>`;
}

/** Reference text as Erlang prints it: the words most significant first. */
export function formatReference(ref: Reference): string {
  return `#Ref<0.${[...ref.ids].reverse().join('.')}>`;
}

export function formatPort(port: Port): string {
  return `#Port<0.${port.id}>`;
}

export function formatFun(fun: ExportFun | OpaqueFun): string {
  if (fun instanceof ExportFun) {
    return `fun ${formatAtom(fun.module)}:${formatAtom(fun.fun)}/${fun.arity}`;
  }
  const info = decodeFunInfo(fun.encoded);
  return info ? `#Fun<${info.module.name}.${info.oldIndex}.${info.oldUniq}>` : '#Fun<?>';
}

function formatBits(bytes: Uint8Array, bitsInLastByte: number): string {
  if (bitsInLastByte === 8 || bytes.length === 0) {
    const text = printableUtf8(bytes);
    if (text !== undefined && bytes.length > 0) {
      return /^[\x20-\x7e\n\r\t]*$/.test(text)
        ? `<<${quote(text, '"')}>>`
        : `<<${quote(text, '"')}/utf8>>`;
    }
    return `<<${Array.from(bytes).join(',')}>>`;
  }
  const whole = Array.from(bytes.subarray(0, bytes.length - 1));
  const last = (bytes[bytes.length - 1] as number) >> (8 - bitsInLastByte);
  return `<<${[...whole, `${last}:${bitsInLastByte}`].join(',')}>>`;
}

/**
 * A term in Erlang syntax, as `io_lib:format("~p")` would print it on one line (for error
 * messages and the CLI). Pids print as on their own node (`<0.123.0>`); node names are not shown.
 */
export function formatTerm(term: Term, options: FormatOptions = {}): string {
  const maxLength = options.maxLength ?? Number.POSITIVE_INFINITY;
  const maxDepth = options.maxDepth ?? 100;
  const parts: string[] = [];
  let length = 0;
  const emit = (text: string): boolean => {
    parts.push(text);
    length += text.length;
    return length <= maxLength;
  };

  // Returns false once the output is long enough, so callers stop walking the term.
  const walk = (value: Term, depth: number): boolean => {
    if (depth > maxDepth) return emit('...');
    if (typeof value === 'number' || typeof value === 'bigint') return emit(formatInteger(value));
    if (value instanceof Atom) return emit(formatAtom(value));
    if (value instanceof ErlFloat) return emit(formatFloat(value.value));
    if (value instanceof Tuple) return sequence('{', value.elements, '}', depth);
    if (Array.isArray(value)) return sequence('[', value, ']', depth);
    if (value instanceof Charlist) {
      const codes = Array.from(value.value, (char) => char.codePointAt(0) as number);
      return codes.every(isPrintable)
        ? emit(quote(value.value, '"'))
        : emit(`[${codes.join(',')}]`);
    }
    if (value instanceof ImproperList) {
      if (!sequence('[', value.elements, '|', depth)) return false;
      return walk(value.tail, depth + 1) && emit(']');
    }
    if (value instanceof Uint8Array) return emit(formatBits(value, 8));
    if (value instanceof BitBinary) return emit(formatBits(value.bytes, value.bitsInLastByte));
    if (value instanceof ErlMap) {
      if (!emit('#{')) return false;
      for (const [index, [key, entry]] of value.entries.entries()) {
        if (index > 0 && !emit(',')) return false;
        if (!walk(key, depth + 1) || !emit(' => ') || !walk(entry, depth + 1)) return false;
      }
      return emit('}');
    }
    if (value instanceof Pid) return emit(formatPid(value));
    if (value instanceof Reference) return emit(formatReference(value));
    if (value instanceof Port) return emit(formatPort(value));
    if (value instanceof ExportFun || value instanceof OpaqueFun) return emit(formatFun(value));
    if (value instanceof PreEncoded) return walk(value.term, depth);
    return emit('?');
  };
  const sequence = (open: string, items: Term[], close: string, depth: number): boolean => {
    if (!emit(open)) return false;
    for (const [index, item] of items.entries()) {
      if (index > 0 && !emit(',')) return false;
      if (!walk(item, depth + 1)) return false;
    }
    return emit(close);
  };

  const complete = walk(term, 0);
  const text = parts.join('');
  return complete ? text : `${text.slice(0, Math.max(0, maxLength - 3))}...`;
}
