import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  faultsMode,
  runScenario,
  startReliabilityStack,
  type ReliabilityStack,
  type ScenarioOutcome,
} from './support';

const long = faultsMode() === 'long';
/** How long the credentials stay rejected or the Role stays removed. */
const FAULT_MS = long ? 60_000 : 5_000;
const seconds = FAULT_MS / 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("beamscope's credentials rejected and its RBAC removed mid-run, then restored", () => {
  let stack: ReliabilityStack;
  beforeAll(async () => {
    stack = await startReliabilityStack({ pods: 3 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /**
   * Injects the fault, ends the open watches (a real API server authenticates and authorizes a
   * watch when it starts, so an open one keeps streaming until its timeout: this is that
   * timeout, brought forward), checks the code and reason the dashboard shows, scales the
   * cluster while beamscope cannot see it, restores, and measures recovery.
   */
  async function credentialFault(
    inject: () => Promise<void>,
    restore: () => Promise<void>,
    expected: { code: string; reason: RegExp },
    replicas: number,
  ): Promise<ScenarioOutcome> {
    const injectedAt = Date.now();
    let restored = false;
    try {
      await inject();
      await stack.kube.cutWatches({ mode: 'close' });
      const detectMs = await stack.waitForStream(
        (state) => state.kubernetes.state === 'error' && state.kubernetes.code === expected.code,
        60_000,
        injectedAt,
      );
      const link = stack.stream.state().kubernetes;
      expect(link.state === 'error' ? link.reason : '').toMatch(expected.reason);
      const { snapshot } = await stack.dashboardState();
      expect(snapshot.kubernetes.state === 'error' && snapshot.kubernetes.code).toBe(expected.code);
      expect(snapshot.members.filter((member) => member.kubernetes).length).toBeGreaterThan(0);
      await stack.sandbox.control('POST', '/scale', { replicas });
      await sleep(Math.max(0, injectedAt + FAULT_MS - Date.now()));
      // Still in error at the end of the fault: nothing made it look healthy meanwhile.
      expect(stack.stream.state().kubernetes.state).toBe('error');
      const shown = stack.stream.state().kubernetes;
      await restore();
      restored = true;
      const restoredAt = Date.now();
      await stack.waitForStream((state) => state.kubernetes.state === 'ok', 90_000);
      await stack.waitForConverged(90_000);
      return {
        detectMs,
        recoverMs: Date.now() - restoredAt,
        notes: `shown: ${shown.state === 'error' ? `${shown.code}: ${shown.reason}` : shown.state}`,
      };
    } finally {
      // A failed assertion must not leave the fault in place for the next scenario.
      if (!restored) await restore();
    }
  }

  it(
    `shows the rejected token (401) for ${seconds} s, then recovers`,
    async () => {
      const result = await runScenario(
        stack,
        {
          scenario: `Token rejected (401) for ${seconds} s`,
          injected: `every request with beamscope's token answered 401 for ${seconds} s, open watches ended (as at their timeout); a pod is added meanwhile`,
          convergeTimeoutMs: 90_000,
        },
        () =>
          credentialFault(
            () => stack.kube.rejectToken(true),
            () => stack.kube.rejectToken(false),
            {
              code: 'unauthorized',
              reason: /rejected beamscope's credentials \(401 Unauthorized\)/,
            },
            4,
          ),
      );
      expect(result.error).toBeUndefined();
      expect(result.diff).toEqual([]);
      expect(result.lost).toEqual([]);
    },
    FAULT_MS + 240_000,
  );

  it(
    `names the missing RBAC rule (403) for ${seconds} s, then recovers`,
    async () => {
      const result = await runScenario(
        stack,
        {
          scenario: `RBAC removed (403) for ${seconds} s`,
          injected: `get/list/watch on endpointslices and pods denied (403 with the RBAC Status) for ${seconds} s, open watches ended (as at their timeout); a pod is deleted meanwhile`,
          convergeTimeoutMs: 90_000,
        },
        () =>
          credentialFault(
            async () => {
              await stack.kube.forbid('endpointslices', true);
              await stack.kube.forbid('pods', true);
            },
            async () => {
              await stack.kube.forbid('endpointslices', false);
              await stack.kube.forbid('pods', false);
            },
            {
              code: 'rbac_forbidden',
              // A list's 403 names the user the server saw; a watch's comes without a body.
              reason:
                /RBAC forbids (user "system:serviceaccount:[^"]+:beamscope"|beamscope's user) to (list|watch) (endpointslices|pods) \((API group "discovery\.k8s\.io"|the core API group \(""\))\) in namespace "[^"]+": grant a Role/,
            },
            3,
          ),
      );
      expect(result.error).toBeUndefined();
      expect(result.diff).toEqual([]);
      expect(result.lost).toEqual([]);
    },
    FAULT_MS + 240_000,
  );
});
