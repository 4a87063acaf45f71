import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

import { loadConfig, parseConfig } from '@/server/config';
import { BeamscopeError } from '@/server/errors';

import { FuzzTarget, splitRuns, timeoutFor } from './support';

/**
 * The configuration loader: whatever the file holds, the server starts with a valid
 * configuration or stops with one line naming the file and the field.
 */
const target = new FuzzTarget('config', 'configuration loader');
/**
 * YAML text through loadConfig costs a file write and a read per case (~5–10 ms on a busy
 * 2-core machine, against ~0.3 ms for a parseConfig call), so it gets a small share, capped;
 * the rest of the target's cases go to parseConfig, which is where every file ends up.
 */
const YAML_RUNS = Math.min(5_000, Math.max(300, Math.floor(target.requested * 0.03)));
const RUNS = {
  ...splitRuns(Math.max(2, target.requested - YAML_RUNS), { anything: 38, mutations: 62 }),
  yaml: YAML_RUNS,
};

const FILE = '/etc/beamscope/fuzz.yaml';

/** No line terminator of any kind: the error is one line on a terminal and in a log. */
const LINE_BREAK = /[\n\r\u0085\u2028\u2029]/;

/** A valid configuration using every field. */
const VALID = {
  node: { name: 'beamscope_maint_ops@10.0.0.9' },
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
  let config;
  try {
    config = parseConfig(data, FILE);
  } catch (error) {
    expectOneLineConfigError(error, `${resolve(FILE)}: `);
    return 'invalid';
  }
  // Plain checks, not expect(): this runs a million times.
  if (config.sourcePath !== resolve(FILE)) throw new Error(`sourcePath ${config.sourcePath}`);
  if (config.clusters.length === 0) throw new Error('a valid configuration without clusters');
  return 'valid';
}

/** A one-line config_invalid error whose message starts with `prefix` (the file). */
function expectOneLineConfigError(error: unknown, prefix: string): void {
  if (!(error instanceof BeamscopeError)) throw error;
  if (error.surface !== 'config' || error.code !== 'config_invalid') throw error;
  if (!error.message.startsWith(prefix)) throw new Error(`not naming the file: ${error.message}`);
  if (LINE_BREAK.test(error.message)) throw new Error(`more than one line: ${error.message}`);
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'beamscope-config-fuzz-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterAll(async () => {
  const record = await target.finish();
  expect(record.failures, JSON.stringify(record.failureDetails)).toBe(0);
});

describe(`configuration fuzzing (${target.requested} cases)`, () => {
  it('accepts the unmutated configuration (the mutations start from a valid one)', () => {
    expect(parsesOrRejectsCleanly(structuredClone(VALID))).toBe('valid');
  });

  it(
    'parseConfig: arbitrary values give a config or a one-line config_invalid error',
    async () => {
      target.check(
        'arbitrary values',
        RUNS.anything,
        [
          fc.oneof(
            fc.anything(),
            fc.anything({
              key: fc.string({ unit: 'binary', maxLength: 8 }),
            }),
            fc.jsonValue(),
          ),
        ],
        (data) => {
          parsesOrRejectsCleanly(data);
        },
      );
      await target.markWarm();
    },
    timeoutFor(RUNS.anything, 0.4),
  );

  it(
    'parseConfig: a valid configuration with wrong types, missing and extra fields',
    () => {
      const outcomes = { valid: 0, invalid: 0 };
      target.check(
        'mutated configurations',
        RUNS.mutations,
        [fc.array(editArbitrary, { minLength: 1, maxLength: 4 })],
        (edits) => {
          outcomes[parsesOrRejectsCleanly(applyEdits(edits))] += 1;
        },
      );
      // Both sides of the property were exercised.
      expect(outcomes.valid).toBeGreaterThan(0);
      expect(outcomes.invalid).toBeGreaterThan(0);
    },
    timeoutFor(RUNS.mutations, 0.6),
  );

  it(
    'loadConfig: arbitrary text as YAML gives a config or a one-line config error',
    async () => {
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
      // The yaml package warns (process.emitWarning) about odd keys such as `? [a]`: counted
      // here instead of printed, or a million cases would print thousands of lines.
      const emitWarning = process.emitWarning;
      let warnings = 0;
      process.emitWarning = () => {
        warnings += 1;
      };
      onTestFinished(() => {
        process.emitWarning = emitWarning;
        if (warnings > 0) console.info(`config fuzzing: ${warnings} YAML warnings not printed`);
      });
      await target.checkAsync('YAML files', RUNS.yaml, [yamlish], async (text) => {
        counter += 1;
        // A few files, rewritten in turn: a million cases must not leave a million files.
        const file = join(dir, `config-${counter % 16}.yaml`);
        await writeFile(file, text);
        let config;
        try {
          config = await loadConfig(file, {});
        } catch (error) {
          expectOneLineConfigError(error, file);
          return;
        }
        if (config.sourcePath !== file) throw new Error(`sourcePath ${config.sourcePath}`);
      });
    },
    timeoutFor(RUNS.yaml, 20),
  );
});
