import 'server-only';

import type { z } from 'zod';

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
};

/**
 * The message of a zod issue for which the schema gave none, phrased as what was expected.
 * Passed to `safeParse` as its per-parse error map, so schema-level messages still win.
 */
export function defaultIssueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((value) => String(value)).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `expected at least ${String(issue.minimum)} item${issue.minimum === 1 ? '' : 's'}`
        : `expected at least ${String(issue.minimum)}`;
    case 'too_big':
      return `expected at most ${String(issue.maximum)}`;
    default:
      return undefined;
  }
}

/** A field name printed as is; any other is quoted. */
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `clusters[0].discovery.mode` from `['clusters', 0, 'discovery', 'mode']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    // A field name from the file is the operator's text: quote anything that is not a plain
    // name, so a control character in it cannot break the line or rewrite a terminal's.
    else if (typeof key !== 'string' || !PLAIN_KEY.test(key)) text += `[${quote(String(key))}]`;
    else text += text ? `.${key}` : key;
  }
  return text;
}

/** JSON quoting, plus the two line separators JSON leaves raw. */
function quote(text: string): string {
  return JSON.stringify(text)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A short rendering of the offending value, for the `(got …)` suffix. */
function preview(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * One line for the first problem zod found: `FILE: PATH: expected … (got …)`. Issues come in
 * document order, and the first is the one an operator should fix first.
 */
export function formatFirstIssue(file: string, issues: readonly z.core.$ZodIssue[]): string {
  const issue = issues[0];
  if (!issue) return `${file}: invalid configuration`;
  let path = issue.path;
  let message = issue.message;
  if (issue.code === 'unrecognized_keys' && issue.keys.length === 1) {
    // Point at the unknown field itself: `clusters[0].discovery.mdoe: unknown field`.
    path = [...issue.path, issue.keys[0]!];
    message = 'unknown field';
  }
  const input = (issue as { input?: unknown }).input;
  let suffix = '';
  if (issue.code === 'invalid_type' && input === undefined) suffix = ' (missing)';
  else if (
    input !== undefined &&
    issue.code !== 'unrecognized_keys' &&
    issue.code !== 'custom' &&
    !message.includes('(got ') &&
    // A list that is too short or a mapping that fails a rule: the path says which.
    (issue.code === 'invalid_type' || input === null || typeof input !== 'object')
  ) {
    suffix = ` (got ${preview(input)})`;
  }
  const where = formatPath(path);
  // One line, whatever the message holds: every line terminator is folded.
  return `${file}: ${where ? `${where}: ` : ''}${message}${suffix}`.replace(
    /\s*[\n\r\u0085\u2028\u2029]\s*/g,
    ' ',
  );
}
