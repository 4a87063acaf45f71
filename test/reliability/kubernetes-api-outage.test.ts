import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { faultsMode, runScenario, startReliabilityStack, type ReliabilityStack } from './support';

const long = faultsMode() === 'long';
const OUTAGE_MS = long ? 30_000 : 5_000;
const seconds = OUTAGE_MS / 1000;

describe('the Kubernetes API server stops, then restarts', () => {
  let stack: ReliabilityStack;
  beforeAll(async () => {
    stack = await startReliabilityStack({ pods: 3 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** One outage with a scale while the API is down; asserts detection, the reason and recovery. */
  async function outage(scenario: string, replicas: number, change: string) {
    return runScenario(
      stack,
      {
        scenario,
        injected: `the emulated API server stops for ${seconds} s (connections refused, open watches reset) and restarts with the same objects; ${change} while it is down`,
        convergeTimeoutMs: 90_000,
      },
      async () => {
        const injectedAt = Date.now();
        await stack.kube.outage(OUTAGE_MS, { replicas });
        // Detection: the pushed state marks the link stale, with a reason naming the server.
        const detectMs = await stack.waitForStream(
          (state) => state.kubernetes.state === 'error',
          OUTAGE_MS + 30_000,
          injectedAt,
        );
        const link = stack.stream.state().kubernetes;
        expect(link.state === 'error' ? link.code : link.state).toBe('unreachable');
        expect(link.state === 'error' ? link.reason : '').toMatch(
          /cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+: connection refused/,
        );
        // A fresh snapshot says the same, and keeps the last known members on screen.
        const { snapshot } = await stack.dashboardState();
        expect(snapshot.kubernetes.state).toBe('error');
        expect(snapshot.members.filter((member) => member.kubernetes).length).toBeGreaterThan(0);

        await stack.kube.waitForApi(OUTAGE_MS + 30_000);
        const restartedAt = Date.now();
        await stack.waitForStream((state) => state.kubernetes.state === 'ok', 60_000);
        await stack.waitForConverged(90_000);
        return {
          detectMs,
          recoverMs: Date.now() - restartedAt,
          notes: `down for ${Math.round((restartedAt - injectedAt) / 100) / 10} s; ${change}`,
        };
      },
    );
  }

  it(
    `marks the source stale with the reason during a ${seconds} s outage, then sees the pod added meanwhile`,
    async () => {
      const result = await outage(
        `API server stopped ${seconds} s, scale-up meanwhile`,
        4,
        'a pod is added',
      );
      expect(result.error).toBeUndefined();
      expect(result.diff).toEqual([]);
      expect(result.lost).toEqual([]);
    },
    OUTAGE_MS + 200_000,
  );

  it(
    `after a ${seconds} s outage, drops the pods deleted meanwhile`,
    async () => {
      const result = await outage(
        `API server stopped ${seconds} s, scale-down meanwhile`,
        2,
        'two pods are deleted',
      );
      expect(result.error).toBeUndefined();
      expect(result.diff).toEqual([]);
      expect(result.lost).toEqual([]);
    },
    OUTAGE_MS + 200_000,
  );
});
