import 'server-only';

// Label and field selectors, with the real server's grammar and its error messages.

/** One clause of a Kubernetes label selector (`app=x`, `tier in (a,b)`, `!canary`, …). */
export type LabelRequirement =
  | { key: string; operator: 'in' | 'notin'; values: string[] }
  | { key: string; operator: 'exists' | 'doesnotexist' }
  | { key: string; operator: 'gt' | 'lt'; value: number };

/** A selector that did not parse; the message is what the API server puts in its 400 Status. */
export class SelectorParseError extends Error {
  override name = 'SelectorParseError';
}

type Token =
  | { kind: 'identifier'; text: string }
  | { kind: 'in' | 'notin' }
  | { kind: '=' | '==' | '!=' | '!' | '(' | ')' | ',' | '>' | '<' }
  | { kind: 'end' };

const SPECIAL = new Set(['=', '!', '(', ')', ',', '<', '>']);
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < text.length) {
    const char = text[index]!;
    if (/\s/.test(char)) {
      index += 1;
    } else if (char === '=' && text[index + 1] === '=') {
      tokens.push({ kind: '==' });
      index += 2;
    } else if (char === '!' && text[index + 1] === '=') {
      tokens.push({ kind: '!=' });
      index += 2;
    } else if (SPECIAL.has(char)) {
      tokens.push({ kind: char as '=' | '!' | '(' | ')' | ',' | '<' | '>' });
      index += 1;
    } else {
      let end = index;
      while (end < text.length && !SPECIAL.has(text[end]!) && !/\s/.test(text[end]!)) end += 1;
      const word = text.slice(index, end);
      tokens.push(
        word === 'in' || word === 'notin' ? { kind: word } : { kind: 'identifier', text: word },
      );
      index = end;
    }
  }
  tokens.push({ kind: 'end' });
  return tokens;
}

function describe(token: Token): string {
  return token.kind === 'identifier'
    ? `'${token.text}'`
    : token.kind === 'end'
      ? 'end of string'
      : `'${token.kind}'`;
}

function validateKey(key: string): string {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (
    prefix !== undefined &&
    (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))
  ) {
    throw new SelectorParseError(`invalid label key "${key}": prefix part must be a DNS subdomain`);
  }
  if (!NAME.test(name)) {
    throw new SelectorParseError(
      `invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
  return key;
}

function validateValue(value: string): string {
  if (value !== '' && !NAME.test(value)) {
    throw new SelectorParseError(
      `invalid label value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
  return value;
}

/**
 * Parses a label selector with the grammar of Kubernetes' `labels.Parse`: comma-separated
 * requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`.
 * The empty string selects everything.
 *
 * @throws SelectorParseError with a message for the 400 response.
 */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const tokens = tokenize(text);
  let position = 0;
  const peek = (): Token => tokens[position]!;
  const next = (): Token => tokens[position++]!;
  const requirements: LabelRequirement[] = [];
  if (peek().kind === 'end') return requirements;

  for (;;) {
    let token = next();
    if (token.kind === '!') {
      token = next();
      if (token.kind !== 'identifier') {
        throw new SelectorParseError(
          `unable to parse requirement: found ${describe(token)}, expected: identifier`,
        );
      }
      requirements.push({ key: validateKey(token.text), operator: 'doesnotexist' });
    } else if (token.kind === 'identifier') {
      const key = validateKey(token.text);
      const operator = next();
      switch (operator.kind) {
        case ',':
        case 'end':
          requirements.push({ key, operator: 'exists' });
          position -= 1;
          break;
        case '=':
        case '==':
        case '!=': {
          const value = peek();
          let text = '';
          if (value.kind === 'identifier') {
            text = value.text;
            position += 1;
          } else if (value.kind !== ',' && value.kind !== 'end') {
            throw new SelectorParseError(
              `unable to parse requirement: found ${describe(value)}, expected: identifier`,
            );
          }
          requirements.push({
            key,
            operator: operator.kind === '!=' ? 'notin' : 'in',
            values: [validateValue(text)],
          });
          break;
        }
        case '>':
        case '<': {
          const value = next();
          if (value.kind !== 'identifier' || !/^-?\d+$/.test(value.text)) {
            throw new SelectorParseError(
              `unable to parse requirement: for 'gt', 'lt' operators, exactly one integer value is required`,
            );
          }
          requirements.push({
            key,
            operator: operator.kind === '>' ? 'gt' : 'lt',
            value: Number(value.text),
          });
          break;
        }
        case 'in':
        case 'notin': {
          const open = next();
          if (open.kind !== '(') {
            throw new SelectorParseError(`found ${describe(open)}, expected: '('`);
          }
          const values: string[] = [];
          for (;;) {
            const value = next();
            if (value.kind === 'identifier') {
              values.push(validateValue(value.text));
              const separator = next();
              if (separator.kind === ')') break;
              if (separator.kind !== ',') {
                throw new SelectorParseError(`found ${describe(separator)}, expected: ',' or ')'`);
              }
            } else if (value.kind === ')' && values.length === 0) {
              break;
            } else {
              throw new SelectorParseError(`found ${describe(value)}, expected: identifier or ')'`);
            }
          }
          if (values.length === 0) {
            throw new SelectorParseError(`for 'in', 'notin' operators, values set can't be empty`);
          }
          requirements.push({ key, operator: operator.kind, values });
          break;
        }
        default:
          throw new SelectorParseError(
            `found ${describe(operator)}, expected: in, notin, =, ==, !=, gt, lt`,
          );
      }
    } else {
      throw new SelectorParseError(
        `found ${describe(token)}, expected: !, identifier, or 'end of string'`,
      );
    }
    const separator = next();
    if (separator.kind === 'end') return requirements;
    if (separator.kind !== ',') {
      throw new SelectorParseError(
        `found ${describe(separator)}, expected: ',' or 'end of string'`,
      );
    }
  }
}

/** True when `labels` satisfy every requirement (`notin` and `!=` also match a missing key). */
export function matchesLabels(
  requirements: readonly LabelRequirement[],
  labels: Record<string, string> | undefined,
): boolean {
  return requirements.every((requirement) => {
    const value = labels?.[requirement.key];
    switch (requirement.operator) {
      case 'in':
        return value !== undefined && requirement.values.includes(value);
      case 'notin':
        return value === undefined || !requirement.values.includes(value);
      case 'exists':
        return value !== undefined;
      case 'doesnotexist':
        return value === undefined;
      case 'gt':
      case 'lt': {
        if (value === undefined || !/^-?\d+$/.test(value)) return false;
        return requirement.operator === 'gt'
          ? Number(value) > requirement.value
          : Number(value) < requirement.value;
      }
    }
  });
}

/** One `field=value` / `field!=value` clause of a field selector. */
export interface FieldRequirement {
  field: string;
  value: string;
  negated: boolean;
}

/**
 * Parses a field selector (`metadata.name=x,status.phase!=Running`); `supported` lists the fields
 * the resource can be selected by, as on the real server.
 *
 * @throws SelectorParseError naming an unsupported field or a malformed clause.
 */
export function parseFieldSelector(text: string, supported: readonly string[]): FieldRequirement[] {
  if (text.trim() === '') return [];
  return text.split(',').map((clause) => {
    const match = /^\s*([^=!\s]+)\s*(==|=|!=)\s*([^\s]*)\s*$/.exec(clause);
    if (!match)
      throw new SelectorParseError(`invalid selector: '${text}'; can't understand '${clause}'`);
    const [, field, operator, value] = match as unknown as [string, string, string, string];
    if (!supported.includes(field))
      throw new SelectorParseError(`field label not supported: ${field}`);
    return { field, value, negated: operator === '!=' };
  });
}

/** True when every field requirement holds, reading fields through `read`. */
export function matchesFields(
  requirements: readonly FieldRequirement[],
  read: (field: string) => string | undefined,
): boolean {
  return requirements.every((requirement) => {
    const actual = read(requirement.field) ?? '';
    return requirement.negated ? actual !== requirement.value : actual === requirement.value;
  });
}
