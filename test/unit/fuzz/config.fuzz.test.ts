import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig, parseConfig } from '@/server/config';
import { BeamscopeError } from '@/server/errors';

/** Cases of arbitrary values (fc.anything and fc.jsonValue) through parseConfig. */
const ANYTHING_RUNS = 4_000;
/** Cases of mutated valid configurations through parseConfig. */
const MUTATION_RUNS = 6_000;
/** Cases of arbitrary text as a YAML file through loadConfig (each writes a file). */
const YAML_RUNS = 500;

const FILE = '/etc/beamscope/fuzz.yaml';

/** No line terminator of any kind: the error is one line on a terminal and in a log. */
const LINE_BREAK = /[\n\r\u0085\u2028\u2029]/;

/** A valid configuration using every field. */
const VALID = {
  node: { name: 'beamscope@10.0.0.9' },
  clusters: [
    {
      id: 'prod',
      displayName: 'Production',
      namespace: 'apps',
      kubernetes: { kubeconfig: './kubeconfig', context: 'prod' },
      discovery: { mode: 'endpointSlices', service: 'myapp', selector: 'app=myapp' },
      nodeNaming: { mode: 'hostname', basename: 'myapp', service: 'myapp-headless' },
      distribution: {
        cookieFile: './cookie',
        port: 9100,
        tls: { caFile: 'ca.pem', certFile: 'cert.pem', keyFile: 'key.pem' },
      },
    },
    {
      id: 'staging',
      discovery: { mode: 'pods', selector: 'app=myapp' },
      nodeNaming: { basename: 'myapp' },
      distribution: { cookieEnv: 'STAGING_COOKIE' },
    },
  ],
};

/** Every place in VALID a mutation may target (the root is `[]`). */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const paths: (string | number)[][] = [prefix];
  if (Array.isArray(value)) {
    value.forEach((item, index) => paths.push(...pathsOf(item, [...prefix, index])));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) paths.push(...pathsOf(item, [...prefix, key]));
  }
  return paths;
}
const PATHS = pathsOf(VALID);

type Edit =
  | { kind: 'delete'; path: number }
  | { kind: 'set'; path: number; value: unknown }
  | { kind: 'extra'; path: number; key: string; value: unknown };

const valueArbitrary = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('', ' ', '\n', 'a\nb', '%00', '-', 'UPPER', 'x@y', '@', 0, -1, 65536, 1.5, NaN),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

const editArbitrary: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), path: fc.nat() }),
  fc.record({ kind: fc.constant('set' as const), path: fc.nat(), value: valueArbitrary }),
  fc.record({
    kind: fc.constant('extra' as const),
    path: fc.nat(),
    key: fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.constantFrom('__proto__', 'constructor', 'id', 'a\nb', ' \n '),
    ),
    value: valueArbitrary,
  }),
);

/** Sets an own key (`__proto__` included), as a YAML or JSON parser makes it. */
function defineOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** Applies `edits` to a deep copy of VALID (an edit whose path no longer exists is skipped). */
function applyEdits(edits: readonly Edit[]): unknown {
  let root: unknown = structuredClone(VALID);
  for (const edit of edits) {
    const path = PATHS[edit.path % PATHS.length]!;
    if (path.length === 0) {
      if (edit.kind === 'set') root = edit.value;
      else if (edit.kind === 'delete') root = undefined;
      else if (root !== null && typeof root === 'object' && !Array.isArray(root)) {
        defineOwn(root, edit.key, edit.value);
      }
      continue;
    }
    let parent: unknown = root;
    for (const key of path.slice(0, -1)) {
      parent = parent !== null && typeof parent === 'object' ? Reflect.get(parent, key) : undefined;
    }
    if (parent === null || typeof parent !== 'object') continue;
    const last = path[path.length - 1]!;
    if (edit.kind === 'delete') {
      if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
      else Reflect.deleteProperty(parent, last);
    } else if (edit.kind === 'set') {
      Reflect.set(parent, last, edit.value);
    } else {
      const target: unknown = Reflect.get(parent, last);
      // Mappings only: a list has no keys in YAML or JSON.
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
        defineOwn(target, edit.key, edit.value);
      }
    }
  }
  return root;
}

/** The property: a valid configuration, or a one-line config_invalid error naming the file. */
function parsesOrRejectsCleanly(data: unknown): 'valid' | 'invalid' {
  try {
    const config = parseConfig(data, FILE);
    expect(config.sourcePath).toBe(resolve(FILE));
    expect(config.clusters.length).toBeGreaterThan(0);
    return 'valid';
  } catch (error) {
    if (!(error instanceof BeamscopeError)) throw error;
    expect(error.surface).toBe('config');
    expect(error.code).toBe('config_invalid');
    expect(error.message.startsWith(`${resolve(FILE)}: `)).toBe(true);
    expect(error.message).not.toMatch(LINE_BREAK);
    return 'invalid';
  }
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'beamscope-config-fuzz-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configuration fuzzing', () => {
  it('accepts the unmutated configuration (the mutations start from a valid one)', () => {
    expect(parsesOrRejectsCleanly(structuredClone(VALID))).toBe('valid');
  });

  it('parseConfig: arbitrary values give a config or a one-line config_invalid error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.anything({
            key: fc.string({ unit: 'binary', maxLength: 8 }),
          }),
          fc.jsonValue(),
        ),
        (data) => {
          parsesOrRejectsCleanly(data);
        },
      ),
      { numRuns: ANYTHING_RUNS },
    );
  }, 30_000);

  it('parseConfig: a valid configuration with wrong types, missing and extra fields', () => {
    const outcomes = { valid: 0, invalid: 0 };
    fc.assert(
      fc.property(fc.array(editArbitrary, { minLength: 1, maxLength: 4 }), (edits) => {
        outcomes[parsesOrRejectsCleanly(applyEdits(edits))] += 1;
      }),
      { numRuns: MUTATION_RUNS },
    );
    // Both sides of the property were exercised.
    expect(outcomes.valid).toBeGreaterThan(0);
    expect(outcomes.invalid).toBeGreaterThan(0);
  }, 30_000);

  it('loadConfig: arbitrary text as YAML gives a config or a one-line config error', async () => {
    const yamlish = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc
        .array(
          fc.constantFrom(
            'clusters:\n',
            '  - id: prod\n',
            '    discovery:\n',
            '      service: myapp\n',
            '    nodeNaming:\n',
            '      basename: myapp\n',
            '    distribution:\n',
            '      cookieFile: ./cookie\n',
            '&a [*a]\n',
            'x: &x [1, 2]\n',
            'y: [*x, *x, *x]\n',
            '!!binary ',
            '? ',
            '- ',
            ': ',
            '"\\u0000"',
            "'",
            '{',
            '}',
            '\t',
            '%YAML 1.2\n---\n',
            '...\n',
          ),
          { maxLength: 12 },
        )
        .map((parts) => parts.join('')),
    );
    let counter = 0;
    await fc.assert(
      fc.asyncProperty(yamlish, async (text) => {
        counter += 1;
        const file = join(dir, `config-${counter}.yaml`);
        await writeFile(file, text);
        try {
          const config = await loadConfig(file, {});
          expect(config.sourcePath).toBe(file);
        } catch (error) {
          if (!(error instanceof BeamscopeError)) throw error;
          expect(error.surface).toBe('config');
          expect(error.code).toBe('config_invalid');
          expect(error.message.startsWith(file)).toBe(true);
          expect(error.message).not.toMatch(LINE_BREAK);
        }
      }),
      { numRuns: YAML_RUNS },
    );
  }, 60_000);
});
