import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState } from '@/lib/cluster-state';

import { faultsMode, runScenario, startReliabilityStack, type ReliabilityStack } from './support';

/**
 * Mass events, against real BEAM pods: many pods restarted by a rolling restart, a scale up to
 * many and back, a Kubernetes node lost with its pods at once. Each ends with the dashboard — a
 * fresh snapshot and an SSE client that applied every delta — equal to the truth, and with a
 * timeline event for every member that joined or left. The long run (`npm run test:faults`)
 * takes 100 pods; the quick one (`npm test`, 2 CI cores) 15; `BEAMSCOPE_MASS_PODS` sets another
 * count (100 real BEAM nodes need about 8 GB and more than 2 cores, see docs/reliability.md).
 */
const long = faultsMode() === 'long';
const MANY = Number(process.env.BEAMSCOPE_MASS_PODS ?? '') || (long ? 100 : 15);
const BASE = 5;
/** Starting or stopping many real BEAM nodes on a small machine takes minutes. */
const CONVERGE_MS = long ? 600_000 : 180_000;

/** Members the dashboard lists (from Kubernetes) whose pod name is in `names`. */
function shown(state: ClusterState, names: ReadonlySet<string>): number {
  return state.members.filter(
    (member) => member.kubernetes?.podName && names.has(member.kubernetes.podName),
  ).length;
}

describe('mass events', () => {
  let stack: ReliabilityStack;
  beforeAll(async () => {
    stack = await startReliabilityStack({ pods: BASE });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  /**
   * Scales to `replicas`, waits until every pod is Ready with its node in the mesh and the
   * dashboard matches; returns the time taken.
   */
  async function scaleTo(replicas: number): Promise<number> {
    const started = Date.now();
    await stack.sandbox.control('POST', '/scale', { replicas });
    for (;;) {
      const truth = await stack.truth();
      const settled =
        truth.members.length === replicas &&
        truth.members.every((member) => member.ready) &&
        truth.nodes.length === replicas;
      if (settled) break;
      if (Date.now() - started > CONVERGE_MS) throw new Error(`${replicas} pods never settled`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await stack.waitForConverged(CONVERGE_MS);
    return Date.now() - started;
  }

  it(
    `scale ${BASE} → ${MANY} → ${BASE}`,
    async () => {
      const result = await runScenario(
        stack,
        {
          scenario: `Scale ${BASE} → ${MANY} → ${BASE}`,
          injected: `the Deployment scaled from ${BASE} to ${MANY} pods (each a real BEAM node joining the mesh), then, once converged, back to ${BASE}`,
          convergeTimeoutMs: CONVERGE_MS,
        },
        async () => {
          const injectedAt = Date.now();
          await stack.sandbox.control('POST', '/scale', { replicas: MANY });
          // Detected: every new pod listed on the dashboard.
          const detectMs = await stack.waitForStream(
            (state) => state.members.filter((member) => member.kubernetes).length === MANY,
            CONVERGE_MS,
            injectedAt,
          );
          const upMs = await stack.waitForConverged(CONVERGE_MS);
          const downAt = Date.now();
          await stack.sandbox.control('POST', '/scale', { replicas: BASE });
          await stack.waitForConverged(CONVERGE_MS);
          return {
            detectMs,
            recoverMs: Date.now() - downAt,
            notes: `all ${MANY} listed after ${detectMs} ms, the ${MANY}-node mesh matched the truth ${upMs} ms later; recover: back to ${BASE} matched`,
          };
        },
      );
      expect(result.error).toBeUndefined();
      expect(result.diff).toEqual([]);
      expect(result.lost).toEqual([]);
    },
    CONVERGE_MS * 3,
  );

  it(
    `rolling restart of ${MANY} pods`,
    async () => {
      const setupMs = await scaleTo(MANY);
      const result = await runScenario(
        stack,
        {
          scenario: `Rolling restart of ${MANY} pods`,
          injected: `kubectl rollout restart of a ${MANY}-pod Deployment: a new ReplicaSet replaces every pod, a quarter at a time, each quarter's old pods deleted once the new ones are Ready`,
          convergeTimeoutMs: CONVERGE_MS,
        },
        async () => {
          const before = new Set((await stack.truth()).members.map((member) => member.podName!));
          const injectedAt = Date.now();
          const rollout = stack.sandbox.control('POST', '/rollout-restart');
          // Detected: the first new pod listed.
          const detectMs = await stack.waitForStream(
            (state) =>
              state.members.some(
                (member) => member.kubernetes?.podName && !before.has(member.kubernetes.podName),
              ),
            CONVERGE_MS,
            injectedAt,
          );
          await rollout;
          const doneAt = Date.now();
          await stack.waitForConverged(CONVERGE_MS);
          expect(shown(stack.stream.state(), before)).toBe(0);
          return {
            detectMs,
            recoverMs: Date.now() - doneAt,
            notes: `rollout took ${Math.round((doneAt - injectedAt) / 100) / 10} s; recover: from the last old pod deleted until the dashboard matched (scaling to ${MANY} first took ${Math.round(setupMs / 1000)} s)`,
          };
        },
      );
      expect(result.error).toBeUndefined();
      expect(result.diff).toEqual([]);
      expect(result.lost).toEqual([]);
    },
    CONVERGE_MS * 4,
  );

  it(
    `a Kubernetes node lost with its pods (of ${MANY})`,
    async () => {
      await scaleTo(MANY);
      const node = 'sandbox-node-1';
      let lostCount = 0;
      try {
        const result = await runScenario(
          stack,
          {
            scenario: `Kubernetes node lost (${MANY} pods)`,
            injected: `one of the three Kubernetes nodes vanishes: its pods' BEAM nodes die at once and the pods are force-deleted (pod GC), the ReplicaSet creates replacements on the other two`,
            convergeTimeoutMs: CONVERGE_MS,
          },
          async () => {
            const injectedAt = Date.now();
            const { lost } = (await stack.sandbox.control('POST', `/nodes/${node}/lose`)) as {
              lost: string[];
            };
            lostCount = lost.length;
            const gone = new Set(lost);
            // Detected: none of the lost pods listed any more.
            const detectMs = await stack.waitForStream(
              (state) => shown(state, gone) === 0,
              CONVERGE_MS,
              injectedAt,
            );
            await stack.waitForConverged(CONVERGE_MS);
            return {
              detectMs,
              recoverMs: Date.now() - injectedAt,
              notes: `${lost.length} pods lost at once; recover: from the loss until the replacements were in the mesh and the dashboard matched`,
            };
          },
        );
        expect(lostCount).toBeGreaterThan(0);
        expect(result.error).toBeUndefined();
        expect(result.diff).toEqual([]);
        expect(result.lost).toEqual([]);
      } finally {
        await stack.sandbox.control('POST', `/nodes/${node}/restore`);
        await scaleTo(BASE);
      }
    },
    CONVERGE_MS * 4,
  );
});
