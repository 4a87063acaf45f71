import { EventEmitter } from 'node:events';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { KubernetesMember, KubernetesSourceStatus } from '@/lib/members';
import { Collector } from '@/server/collector/collector';
import type { ClusterConfig } from '@/server/config';
import { BeamscopeError } from '@/server/errors';
import { eventDetails, nodeDetails, registryLookup } from '@/server/http/cluster-api';
import { errorResponse } from '@/server/http/responses';
import { parseLastEventId } from '@/server/http/sse';
import type { KubernetesSourceEvents } from '@/server/kubernetes/source';
import { BeamscopeRuntime } from '@/server/runtime';

import { pod } from '../lib/fixtures';
import { FuzzTarget, timeoutFor } from './support';

/**
 * HTTP query parameters and path segments → a value or a 4xx, never a 5xx. The cases call what
 * the route handlers call (registryLookup, nodeDetails, eventDetails, runtime.cluster,
 * parseLastEventId, and
 * errorResponse for the status), not the handlers over sockets: a request through the
 * standalone server costs ~1 ms, which a million cases cannot afford, and the handlers add
 * nothing between the URL and these functions but `await context.params`.
 */
const target = new FuzzTarget('http-params', 'HTTP query parameters');
const RUNS = target.split({
  registryNames: 30,
  rawQueries: 15,
  nodes: 30,
  clusterIds: 10,
  lastEventIds: 15,
  eventDetails: 15,
});

/** A Kubernetes side with a fixed member list: the collector's source seam. */
class FakeSource extends EventEmitter<KubernetesSourceEvents> {
  constructor(private readonly current: KubernetesMember[]) {
    super();
  }
  members(): KubernetesMember[] {
    return this.current;
  }
  status(): KubernetesSourceStatus {
    return { state: 'ok', since: 0 };
  }
}

const MEMBERS = [pod('10.0.0.1'), pod('10.0.0.2'), pod('10.0.0.3')];
const KNOWN_NODES = MEMBERS.map((member) => member.beamNode!);

const CONFIG: ClusterConfig = {
  id: 'test',
  displayName: 'test',
  discovery: { mode: 'endpointSlices', service: 'myapp' },
  nodeNaming: { mode: 'ip', basename: 'myapp' },
  distribution: { cookieEnv: 'COOKIE' },
};

let collector: Collector;

beforeAll(() => {
  collector = new Collector({
    clusterId: 'test',
    localNode: 'beamscope@127.0.0.1',
    source: new FakeSource(MEMBERS),
    manager: null,
    pollIntervalMs: 60_000,
  }).start();
  collector.flush();
});

afterAll(() => {
  collector.stop();
});

/** The status errorResponse gives `error`; a 5xx (or a non-Beamscope error) fails the case. */
function statusOf(error: unknown): number {
  if (!(error instanceof BeamscopeError)) throw error;
  const { status } = errorResponse(error);
  if (status < 400 || status >= 500) {
    throw new Error(`${status} for ${error.code}: ${error.message}`, { cause: error });
  }
  return status;
}

/** The property: a value, or a BeamscopeError the API answers with a 4xx (plain checks: hot). */
async function valueOr4xx<T>(call: () => T | Promise<T>): Promise<'value' | number> {
  try {
    await call();
    return 'value';
  } catch (error) {
    return statusOf(error);
  }
}

/** The synchronous twin of {@link valueOr4xx}. */
function valueOr4xxSync<T>(call: () => T): 'value' | number {
  try {
    call();
    return 'value';
  } catch (error) {
    return statusOf(error);
  }
}

/** Hostile strings: unicode, control characters, percent sequences, very long ones. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  fc.string({ unit: fc.constantFrom('%', '0', 'A', 'f', 'F', 'E', 'D', 'C', '2', '@', '.', 'x') }),
  fc.string({ unit: 'binary-ascii', minLength: 900, maxLength: 3000 }),
  fc.constantFrom(
    '%',
    '%%',
    '%zz',
    '%E0%A4%A',
    '%ED%A0%80',
    '%00',
    '%40',
    'a%40b',
    '\u0000',
    '\ud800',
    '\udfff',
    '💥'.repeat(300),
    'a'.repeat(1024),
    'é'.repeat(513),
    ' ',
    '\r\n',
  ),
);

/** Strings shaped like node names, some of which the collector knows. */
const nodeLike = fc.oneof(
  fc.constantFrom(...KNOWN_NODES),
  fc.constantFrom(...KNOWN_NODES).map((node) => encodeURIComponent(node)),
  fc
    .tuple(
      fc.string({ unit: fc.constantFrom('a', 'Z', '0', '_', '-'), minLength: 1, maxLength: 300 }),
      fc.string({ unit: fc.constantFrom('1', '.', ':', '-', 'h'), minLength: 1, maxLength: 300 }),
    )
    .map(([name, host]) => `${name}@${host}`),
);

/** The runtime's cluster lookup over a fixed set of clusters (what `[id]` routes call first). */
const clusterOf = (id: string) =>
  BeamscopeRuntime.prototype.cluster.call(
    { clusters: new Map([['test', { collector, config: CONFIG }]]) } as unknown as BeamscopeRuntime,
    id,
  );

/** Counts the server's error logs: a 4xx never logs, a 500 always does. */
let errorLogs = 0;
const consoleError = console.error;

beforeAll(() => {
  console.error = (...args: unknown[]) => {
    errorLogs += 1;
    consoleError(...args);
  };
});

afterAll(async () => {
  console.error = consoleError;
  const record = await target.finish();
  expect(record.failures, JSON.stringify(record.failureDetails)).toBe(0);
  expect(errorLogs).toBe(0);
});

describe(`HTTP parameter fuzzing (${target.requested} cases)`, () => {
  it(
    'registry ?name=: any value is a lookup result or a 4xx error',
    async () => {
      const statuses = new Map<string | number, number>();
      await target.checkAsync(
        'registry ?name=',
        RUNS.registryNames,
        [fc.array(hostileString, { minLength: 0, maxLength: 3 })],
        async (names: string[]) => {
          const params = new URLSearchParams(names.map((name): [string, string] => ['name', name]));
          const outcome = await valueOr4xx(() => registryLookup({ collector }, params));
          statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
        },
      );
      await target.markWarm();
      expect(statuses.get('value')).toBeGreaterThan(0);
      expect(statuses.get(400)).toBeGreaterThan(0);
    },
    timeoutFor(RUNS.registryNames, 0.8),
  );

  it(
    'registry: any raw query string is a lookup result or a 4xx error',
    async () => {
      await target.checkAsync(
        'raw query strings',
        RUNS.rawQueries,
        [
          fc.oneof(
            hostileString,
            hostileString.map((value) => `name=${value}`),
            hostileString.map((value) => `name=${value}&name=${value}`),
          ),
        ],
        async (query) => {
          await valueOr4xx(() => registryLookup({ collector }, new URLSearchParams(query)));
        },
      );
    },
    timeoutFor(RUNS.rawQueries, 0.4),
  );

  it(
    'nodes/{node}: any path segment is a node or a 4xx error',
    () => {
      const cluster = { collector, config: CONFIG };
      const statuses = new Map<string | number, number>();
      target.check('nodes/{node}', RUNS.nodes, [fc.oneof(hostileString, nodeLike)], (node) => {
        const outcome = valueOr4xxSync(() => {
          const details = nodeDetails(cluster, node);
          if (details.clusterId !== 'test') throw new Error(`cluster ${details.clusterId}`);
          return details;
        });
        statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
      });
      // Known nodes, unknown nodes and malformed names were all reached.
      expect(statuses.get('value')).toBeGreaterThan(0);
      expect(statuses.get(404)).toBeGreaterThan(0);
      expect(statuses.get(400)).toBeGreaterThan(0);
    },
    timeoutFor(RUNS.nodes, 0.4),
  );

  it(
    'clusters/{id}: any path segment is a cluster or a 404',
    () => {
      const statuses = new Map<string | number, number>();
      target.check(
        'clusters/{id}',
        RUNS.clusterIds,
        [fc.oneof(hostileString, fc.constant('test'))],
        (id) => {
          const outcome = valueOr4xxSync(() => clusterOf(id));
          statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
        },
      );
      expect(statuses.get('value')).toBeGreaterThan(0);
      expect(statuses.get(404)).toBeGreaterThan(0);
    },
    timeoutFor(RUNS.clusterIds, 0.3),
  );

  it(
    'events/{seq}: any path segment and query is a summary event with its lists, or a 4xx error',
    () => {
      // A cluster whose 20 pods appear at once: one summary event whose lists the server holds.
      const members: KubernetesMember[] = [];
      const source = new FakeSource(members);
      const scaled = new Collector({
        clusterId: 'test',
        localNode: 'beamscope@127.0.0.1',
        source,
        manager: null,
        pollIntervalMs: 60_000,
      }).start();
      try {
        members.push(...Array.from({ length: 20 }, (_, i) => pod(`10.0.1.${i + 1}`)));
        source.emit('members', members);
        scaled.flush();
        const held = String(scaled.snapshot().timeline[0]!.seq);
        const cluster = { collector: scaled, config: CONFIG };
        const statuses = new Map<string | number, number>();
        const seqLike = fc.oneof(
          hostileString,
          fc.constant(held),
          fc.nat().map(String),
          fc.bigInt().map(String),
        );
        const query = fc.oneof(
          hostileString,
          fc
            .tuple(fc.oneof(fc.integer(), hostileString), fc.oneof(fc.integer(), hostileString))
            .map(([offset, limit]) => `offset=${offset}&limit=${limit}`),
          fc.constant(''),
        );
        target.check('events/{seq}', RUNS.eventDetails, [seqLike, query], (seq, raw) => {
          const outcome = valueOr4xxSync(() => {
            const details = eventDetails(cluster, seq, new URLSearchParams(raw));
            const items = details.members?.items.length ?? -1;
            if (items < 0 || items > 10_000) throw new Error(`${items} members`);
            return details;
          });
          statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
        });
        expect(statuses.get('value')).toBeGreaterThan(0);
        expect(statuses.get(404)).toBeGreaterThan(0);
        expect(statuses.get(400)).toBeGreaterThan(0);
      } finally {
        scaled.stop();
      }
    },
    timeoutFor(RUNS.eventDetails, 0.4),
  );

  it(
    'Last-Event-ID: any header value is a sequence number of this epoch or null',
    () => {
      target.check(
        'Last-Event-ID',
        RUNS.lastEventIds,
        [
          fc.oneof(
            hostileString,
            fc.nat().map((seq) => `beef01-${seq}`),
            hostileString.map((value) => `beef01-${value}`),
          ),
        ],
        (value) => {
          const seq = parseLastEventId(value, 'beef01');
          if (seq !== null && !(Number.isSafeInteger(seq) && seq >= 0)) {
            throw new Error(`sequence ${seq} from ${JSON.stringify(value)}`);
          }
        },
      );
    },
    timeoutFor(RUNS.lastEventIds, 0.2),
  );
});
