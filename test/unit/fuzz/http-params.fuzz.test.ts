import { EventEmitter } from 'node:events';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import type { KubernetesMember, KubernetesSourceStatus } from '@/lib/members';
import { Collector } from '@/server/collector/collector';
import type { ClusterConfig } from '@/server/config';
import { BeamscopeError } from '@/server/errors';
import { nodeDetails, registryLookup } from '@/server/http/cluster-api';
import { errorResponse } from '@/server/http/responses';
import { parseLastEventId } from '@/server/http/sse';
import type { KubernetesSourceEvents } from '@/server/kubernetes/source';

import { pod } from '../lib/fixtures';

/** Cases of `?name=` values through registryLookup. */
const REGISTRY_RUNS = 1_500;
/** Cases of raw query strings through registryLookup. */
const QUERY_RUNS = 500;
/** Cases of `{node}` path segments through nodeDetails. */
const NODE_RUNS = 1_500;
/** Cases of `Last-Event-ID` values through parseLastEventId. */
const LAST_EVENT_ID_RUNS = 500;

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

/** The property: a value, or a BeamscopeError the API answers with a 4xx. */
async function valueOr4xx<T>(call: () => T | Promise<T>): Promise<'value' | number> {
  try {
    await call();
    return 'value';
  } catch (error) {
    if (!(error instanceof BeamscopeError)) throw error;
    const spy = vi.spyOn(console, 'error');
    const { status } = errorResponse(error);
    // A 500 would log; a 4xx never does.
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
    expect(status, `${error.code}: ${error.message}`).toBeGreaterThanOrEqual(400);
    expect(status, `${error.code}: ${error.message}`).toBeLessThan(500);
    return status;
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

describe('HTTP parameter fuzzing', () => {
  it('registry ?name=: any value is a lookup result or a 4xx error', async () => {
    const statuses = new Map<string | number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(hostileString, { minLength: 0, maxLength: 3 }),
        async (names: string[]) => {
          const params = new URLSearchParams(names.map((name): [string, string] => ['name', name]));
          const outcome = await valueOr4xx(() => registryLookup({ collector }, params));
          statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
        },
      ),
      { numRuns: REGISTRY_RUNS },
    );
    expect(statuses.get('value')).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
  }, 60_000);

  it('registry: any raw query string is a lookup result or a 4xx error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileString,
          hostileString.map((value) => `name=${value}`),
          hostileString.map((value) => `name=${value}&name=${value}`),
        ),
        async (query) => {
          await valueOr4xx(() => registryLookup({ collector }, new URLSearchParams(query)));
        },
      ),
      { numRuns: QUERY_RUNS },
    );
  }, 60_000);

  it('nodes/{node}: any path segment is a node or a 4xx error', async () => {
    const cluster = { collector, config: CONFIG };
    const statuses = new Map<string | number, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileString, nodeLike), async (node) => {
        const outcome = await valueOr4xx(() => {
          const details = nodeDetails(cluster, node);
          expect(details.clusterId).toBe('test');
          return details;
        });
        statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
      }),
      { numRuns: NODE_RUNS },
    );
    // Known nodes, unknown nodes and malformed names were all reached.
    expect(statuses.get('value')).toBeGreaterThan(0);
    expect(statuses.get(404)).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
  }, 60_000);

  it('Last-Event-ID: any header value is a sequence number of this epoch or null', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          hostileString,
          fc.nat().map((seq) => `beef01-${seq}`),
          hostileString.map((value) => `beef01-${value}`),
        ),
        (value) => {
          const seq = parseLastEventId(value, 'beef01');
          if (seq !== null) {
            expect(Number.isSafeInteger(seq)).toBe(true);
            expect(seq).toBeGreaterThanOrEqual(0);
          }
        },
      ),
      { numRuns: LAST_EVENT_ID_RUNS },
    );
  });
});
