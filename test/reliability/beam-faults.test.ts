import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState } from '@/lib/cluster-state';

import {
  faultsMode,
  runScenario,
  startReliabilityStack,
  type ReliabilityStack,
  type TruthMember,
} from './support';

/**
 * Faults on the BEAM side, against the sandbox's real nodes and the standalone dashboard: a pod
 * SIGKILLed, a node frozen (SIGSTOP) past the probe timeout, a partition, a node with the wrong
 * cookie, a node restarting under the same name. Each ends with the dashboard — a fresh
 * snapshot and an SSE client that applied every delta — equal to the truth.
 */
const long = faultsMode() === 'long';
/** The collector's probe timeout (its default): a frozen node must outlast it. */
const PROBE_TIMEOUT_MS = 5_000;
/**
 * Detection takes up to a poll interval (2 s) plus the probe timeout: the freeze outlasts both
 * with room to spare, as a CI machine running other suites at once can be slow to notice.
 */
const FREEZE_MS = long ? 30_000 : PROBE_TIMEOUT_MS + 10_000;
const PARTITION_MS = long ? 20_000 : 4_000;
const MISCOOKIE_MS = long ? 15_000 : 3_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The dashboard's view of one node, from the pushed state. */
function side(state: ClusterState, node: string) {
  return state.members.find((member) => member.node === node)?.beam;
}

/** The OS pid of the BEAM emulator running `node` (beam.smp is exec'd by erl: its pid). */
async function beamPid(node: string): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      const at = args.indexOf('-name');
      if (at >= 0 && args[at + 1] === node && args[0]!.includes('beam')) return Number(entry);
    } catch {
      // The process exited while we looked.
    }
  }
  throw new Error(`no BEAM process runs ${node}`);
}

describe('BEAM-side faults', () => {
  let stack: ReliabilityStack;
  /** A member of the mesh, picked afresh per scenario (pods change names across restarts). */
  const pick = async (index = 0): Promise<TruthMember> => {
    const truth = await stack.truth();
    const member = [...truth.members].sort((a, b) => a.ip.localeCompare(b.ip))[index];
    if (!member?.podName) throw new Error('no member to pick');
    return member;
  };

  beforeAll(async () => {
    stack = await startReliabilityStack({ pods: 3 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('a BEAM pod SIGKILLed: shown down at once, back when its pod restarts', async () => {
    let victim: TruthMember | undefined;
    const result = await runScenario(
      stack,
      {
        scenario: 'BEAM pod SIGKILL',
        injected: "SIGKILL of one pod's BEAM node (the sandbox restarts it after its back-off)",
        convergeTimeoutMs: 60_000,
      },
      async () => {
        victim = await pick(0);
        const injectedAt = Date.now();
        await stack.sandbox.control('POST', `/pods/${victim.podName}/kill`);
        const node = victim.node;
        const detectMs = await stack.waitForStream(
          (state) => side(state, node)?.connection.status !== 'connected',
          30_000,
          injectedAt,
        );
        // Back: connected again and probed after the restart (the restart count went up).
        const recoverFrom = Date.now();
        await stack.waitForStream(
          (state) =>
            side(state, node)?.connection.status === 'connected' &&
            state.members.find((member) => member.node === node)?.kubernetes?.restarts ===
              (victim!.restarts ?? 0) + 1,
          60_000,
        );
        await stack.waitForConverged(60_000);
        return { detectMs, recoverMs: Date.now() - recoverFrom };
      },
    );
    expect(result.error).toBeUndefined();
    expect(result.diff).toEqual([]);
    expect(result.lost).toEqual([]);
  }, 180_000);

  it(`a BEAM node frozen (SIGSTOP) for ${FREEZE_MS / 1000} s, past the probe timeout, then SIGCONT`, async () => {
    const result = await runScenario(
      stack,
      {
        scenario: `BEAM node SIGSTOP ${FREEZE_MS / 1000} s then SIGCONT`,
        injected: `SIGSTOP of one BEAM node for ${FREEZE_MS / 1000} s (probe timeout ${PROBE_TIMEOUT_MS / 1000} s), then SIGCONT`,
        convergeTimeoutMs: 90_000,
      },
      async () => {
        const victim = await pick(1);
        const pid = await beamPid(victim.node);
        const injectedAt = Date.now();
        process.kill(pid, 'SIGSTOP');
        let detectMs: number | null = null;
        try {
          // A frozen node answers nothing: once a probe has timed out the dashboard must stop
          // calling it connected (its TCP connection alone says nothing about the node).
          detectMs = await stack.waitForStream(
            (state) => side(state, victim.node)?.connection.status !== 'connected',
            FREEZE_MS,
            injectedAt,
          );
          const shown = side(stack.stream.state(), victim.node)!.connection;
          expect(shown.reason ?? '').not.toBe('');
          // The other nodes stay connected and probed meanwhile.
          const others = stack.stream
            .state()
            .members.filter((member) => member.node !== victim.node && member.kubernetes);
          expect(others.every((member) => member.beam?.connection.status === 'connected')).toBe(
            true,
          );
          await sleep(Math.max(0, FREEZE_MS - (Date.now() - injectedAt)));
        } finally {
          process.kill(pid, 'SIGCONT');
        }
        const resumedAt = Date.now();
        await stack.waitForStream(
          (state) => side(state, victim.node)?.connection.status === 'connected',
          60_000,
        );
        await stack.waitForConverged(90_000);
        return {
          detectMs,
          recoverMs: Date.now() - resumedAt,
          notes: `frozen ${Math.round((resumedAt - injectedAt) / 100) / 10} s`,
        };
      },
    );
    expect(result.error).toBeUndefined();
    expect(result.diff).toEqual([]);
    expect(result.lost).toEqual([]);
  }, 240_000);

  it('a partition, then its heal', async () => {
    const result = await runScenario(
      stack,
      {
        scenario: 'BEAM partition and heal',
        injected: `the pods split in two sides that refuse each other for ${PARTITION_MS / 1000} s, then heal`,
        convergeTimeoutMs: 60_000,
      },
      async () => {
        const truth = await stack.truth();
        const pods = truth.members.map((member) => member.podName!).sort();
        const injectedAt = Date.now();
        await stack.sandbox.control('POST', '/partition', {
          sides: [pods.slice(0, 1), pods.slice(1)],
        });
        const detectMs = await stack.waitForStream(
          (state) => state.partitions.length === 2,
          30_000,
          injectedAt,
        );
        // The dashboard matches the split mesh too, not just "two parts".
        await stack.waitForConverged(30_000);
        await sleep(PARTITION_MS);
        const healedAt = Date.now();
        await stack.sandbox.control('POST', '/heal');
        await stack.waitForStream((state) => state.partitions.length === 1, 30_000);
        await stack.waitForConverged(60_000);
        return { detectMs, recoverMs: Date.now() - healedAt };
      },
    );
    expect(result.error).toBeUndefined();
    expect(result.diff).toEqual([]);
    expect(result.lost).toEqual([]);
  }, 180_000);

  it('a node restarted with the wrong cookie, then with the right one', async () => {
    const result = await runScenario(
      stack,
      {
        scenario: 'BEAM node with the wrong cookie, restored',
        injected: `one node restarted with a wrong cookie (it runs, is Ready, never joins) for ${MISCOOKIE_MS / 1000} s, then with the right one`,
        convergeTimeoutMs: 60_000,
      },
      async () => {
        const victim = await pick(2);
        const injectedAt = Date.now();
        await stack.sandbox.control('POST', `/pods/${victim.podName}/miscookie`, {
          restore: false,
        });
        let detectMs: number;
        try {
          detectMs = await stack.waitForStream(
            (state) => side(state, victim.node)?.connection.status === 'auth_failed',
            30_000,
            injectedAt,
          );
          // The reason says what is wrong, and never carries the cookie.
          const shown = side(stack.stream.state(), victim.node)!.connection;
          expect(shown.code).toBe('auth_failed');
          expect(shown.reason ?? '').toMatch(/cookie/i);
          const cookie = (
            await readFile(join(dirname(stack.sandbox.config), 'cookie'), 'utf8')
          ).trim();
          expect(JSON.stringify(stack.stream.state())).not.toContain(cookie);
          // The rest of the mesh is still shown as it is (the full diff cannot be empty here:
          // the truth has the node running, which beamscope, refused, can only call auth_failed).
          await sleep(MISCOOKIE_MS);
          const others = stack.stream
            .state()
            .members.filter((member) => member.node !== victim.node && member.kubernetes);
          expect(others.map((member) => member.beam?.connection.status)).toEqual(
            others.map(() => 'connected'),
          );
        } finally {
          await stack.sandbox.control('POST', `/pods/${victim.podName}/miscookie`, {
            restore: true,
          });
        }
        const restoredAt = Date.now();
        await stack.waitForStream(
          (state) => side(state, victim.node)?.connection.status === 'connected',
          60_000,
        );
        await stack.waitForConverged(60_000);
        return { detectMs, recoverMs: Date.now() - restoredAt };
      },
    );
    expect(result.error).toBeUndefined();
    expect(result.diff).toEqual([]);
    expect(result.lost).toEqual([]);
  }, 180_000);

  it('a node that restarts under the same name is seen as a new incarnation', async () => {
    const result = await runScenario(
      stack,
      {
        scenario: 'BEAM node restarts under the same name',
        injected:
          "one pod's node stopped and started again under the same name, its pod staying Ready (Kubernetes sees nothing)",
        convergeTimeoutMs: 60_000,
      },
      async () => {
        const victim = await pick(0);
        const before = side(stack.stream.state(), victim.node);
        const injectedAt = Date.now();
        // `miscookie --restore` on a healthy pod: stop the node, start it with the same cookie.
        await stack.sandbox.control('POST', `/pods/${victim.podName}/miscookie`, {
          restore: true,
        });
        const restartedAt = Date.now();
        // Detected: the connection dropped, or the probe shows a fresh uptime.
        const detectMs = await stack.waitForStream(
          (state) => {
            const now = side(state, victim.node);
            return (
              now?.connection.status !== 'connected' ||
              (now.uptimeMs !== null &&
                before?.uptimeMs !== null &&
                before?.uptimeMs !== undefined &&
                now.uptimeMs < Date.now() - injectedAt + 5_000 &&
                now.probedAt !== null &&
                now.probedAt > restartedAt)
            );
          },
          30_000,
          injectedAt,
        );
        await stack.waitForStream((state) => {
          const now = side(state, victim.node);
          return (
            now?.connection.status === 'connected' &&
            now.probedAt !== null &&
            now.probedAt > restartedAt &&
            now.uptimeMs !== null &&
            now.uptimeMs < Date.now() - injectedAt + 5_000
          );
        }, 60_000);
        await stack.waitForConverged(60_000);
        return { detectMs, recoverMs: Date.now() - restartedAt };
      },
    );
    expect(result.error).toBeUndefined();
    expect(result.diff).toEqual([]);
    expect(result.lost).toEqual([]);
  }, 180_000);
});
