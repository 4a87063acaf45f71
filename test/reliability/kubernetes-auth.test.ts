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

/** The server's log lines about the sandbox cluster's Kubernetes link, from `offset` on. */
function kubernetesLogLines(output: string, offset: number): string[] {
  return output
    .slice(offset)
    .split('\n')
    .filter((line) => line.startsWith('beamscope: cluster sandbox: kubernetes'));
}

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
    const logMark = stack.dashboard.output().length;
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
      // The server log: one line for the failure, however many retries the fault lasted.
      const duringFault = kubernetesLogLines(stack.dashboard.output(), logMark);
      expect(duringFault).toHaveLength(1);
      expect(duringFault[0]).toContain(`kubernetes error (${expected.code}): `);
      expect(duringFault[0]).toMatch(expected.reason);
      const restoreMark = stack.dashboard.output().length;
      await restore();
      restored = true;
      const restoredAt = Date.now();
      await stack.waitForStream((state) => state.kubernetes.state === 'ok', 90_000);
      await stack.waitForConverged(90_000);
      await sleep(500);
      expect(kubernetesLogLines(stack.dashboard.output(), restoreMark).at(-1)).toBe(
        'beamscope: cluster sandbox: kubernetes ok: listing and watching',
      );
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
              // The user is named even for a watch's 403, which comes without a body.
              reason:
                /RBAC forbids user "system:serviceaccount:[^"]+:beamscope" to (list|watch) (endpointslices|pods) \((API group "discovery\.k8s\.io"|the core API group \(""\))\) in namespace "[^"]+": grant a Role/,
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

  it('shows a Role revoked while the watches stay open within 5 s, then recovers', async () => {
    const result = await runScenario(
      stack,
      {
        scenario: 'RBAC revoked, watches left open',
        injected:
          'get/list/watch on endpointslices and pods denied; the open watches go on streaming (a real API server authorizes a watch only when it starts); a pod is added meanwhile',
        convergeTimeoutMs: 90_000,
      },
      async () => {
        const injectedAt = Date.now();
        let restored = false;
        const restore = async () => {
          await stack.kube.forbid('endpointslices', false);
          await stack.kube.forbid('pods', false);
          restored = true;
        };
        try {
          await stack.kube.forbid('endpointslices', true);
          await stack.kube.forbid('pods', true);
          // The requirement: the revocation is on the page within 5 s.
          const detectMs = await stack.waitForStream(
            (state) => state.kubernetes.state === 'error',
            5000,
            injectedAt,
          );
          const link = stack.stream.state().kubernetes;
          expect(link.state === 'error' && link.code).toBe('rbac_forbidden');
          await stack.sandbox.control('POST', '/scale', { replicas: 4 });
          await restore();
          const restoredAt = Date.now();
          await stack.waitForStream((state) => state.kubernetes.state === 'ok', 90_000);
          await stack.waitForConverged(90_000);
          return { detectMs, recoverMs: Date.now() - restoredAt };
        } finally {
          if (!restored) await restore();
        }
      },
    );
    expect(result.error).toBeUndefined();
    expect(result.diff).toEqual([]);
    expect(result.lost).toEqual([]);
  }, 240_000);

  it(
    `holds the error while watching pods is forbidden but listing them allowed, for ${seconds} s`,
    async () => {
      const result = await runScenario(
        stack,
        {
          scenario: `Watch forbidden, list allowed (403 on watch) for ${seconds} s`,
          injected: `watch on pods denied (list allowed) for ${seconds} s, open watches ended; a pod is deleted meanwhile`,
          convergeTimeoutMs: 90_000,
        },
        async () => {
          const injectedAt = Date.now();
          const logMark = stack.dashboard.output().length;
          let restored = false;
          const restore = async () => {
            await stack.kube.forbid('pods', false);
            restored = true;
          };
          try {
            await stack.kube.forbid('pods', true, ['watch']);
            await stack.kube.cutWatches({ mode: 'close' });
            const detectMs = await stack.waitForStream(
              (state) => state.kubernetes.state === 'error',
              60_000,
              injectedAt,
            );
            await stack.sandbox.control('POST', '/scale', { replicas: 3 });
            // Sampled as the browser sees it: the link never reads ok while the watch is refused.
            const seen = new Set<string>();
            while (Date.now() < injectedAt + FAULT_MS) {
              seen.add(stack.stream.state().kubernetes.state);
              await sleep(50);
            }
            expect([...seen]).toEqual(['error']);
            const link = stack.stream.state().kubernetes;
            expect(link.state === 'error' ? link.reason : '').toMatch(
              /^RBAC forbids user "system:serviceaccount:[^"]+:beamscope" to watch pods .*may be stale$/,
            );
            expect(kubernetesLogLines(stack.dashboard.output(), logMark)).toHaveLength(1);
            await restore();
            const restoredAt = Date.now();
            await stack.waitForStream((state) => state.kubernetes.state === 'ok', 90_000);
            await stack.waitForConverged(90_000);
            return {
              detectMs,
              recoverMs: Date.now() - restoredAt,
              notes: `shown: ${link.state === 'error' ? link.reason : link.state}`,
            };
          } finally {
            if (!restored) await restore();
          }
        },
      );
      expect(result.error).toBeUndefined();
      expect(result.diff).toEqual([]);
      expect(result.lost).toEqual([]);
    },
    FAULT_MS + 240_000,
  );
});
