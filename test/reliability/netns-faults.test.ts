import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState } from '@/lib/cluster-state';

import {
  diff,
  faultsMode,
  runScenario,
  startReliabilityStack,
  type ReliabilityStack,
  type Truth,
  type TruthMember,
} from './support';

/**
 * Network faults made by the kernel, against the sandbox in its netns mode (each pod's node in
 * its own network namespace, owning its pod IP; root, as CI runs): a partition that also cuts
 * beamscope off from one side, a one-way partition, a link so slow that ticks arrive late. Each
 * ends with the dashboard — a fresh snapshot and an SSE client that applied every delta — equal
 * to the truth, and nothing the sandbox made left in the kernel.
 *
 * Nodes notice a link that went silent only after `net_ticktime`: the long run keeps OTP's
 * default (60 s); the quick one (npm test) gives the pods 12 s, so each scenario takes seconds.
 * Latency and random loss are not made: they need `sch_netem`, which this kernel lacks.
 */
const long = faultsMode() === 'long';
const NET_TICKTIME_S = long ? 60 : 12;
/** How long a fault is held once the nodes showed it. */
const HOLD_MS = long ? 20_000 : 2_000;
/** The slowed link's rate, both ways: far below what the probes ask of it. */
const SLOW_KBIT = 2;
/** Time for the nodes to notice a dead link: net_ticktime plus its own slack (up to 1.25×). */
const NOTICE_MS = NET_TICKTIME_S * 1_250 + 30_000;

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The dashboard's view of one node, from the pushed state. */
const side = (state: ClusterState, node: string) =>
  state.members.find((member) => member.node === node)?.beam;

/**
 * What the kernel still holds of the sandbox run by `pid`: its namespaces (`beamscope-<pid>-<n>`),
 * its bridge and veths (`bsbr<pid base 36>`, `bsv<pid base 36>-<n>`), as server/sandbox/netns
 * names them. Other runs on the machine (other suites) are not ours to judge.
 */
async function kernelObjectsOf(pid: number): Promise<string[]> {
  const tag = pid.toString(36);
  const namespaces = (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .filter((line) => line.startsWith(`beamscope-${pid}-`));
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .filter((line) => line.includes(`: bsbr${tag}:`) || line.includes(`: bsv${tag}-`));
  return [...namespaces, ...links];
}

describe('kernel network faults (sandbox --network netns)', () => {
  let stack: ReliabilityStack;
  /** The sandbox process's pid, which names its kernel objects. */
  let sandboxPid: number | undefined;
  /** The three members, sorted by IP: the same pods across scenarios (nothing restarts them). */
  let a: TruthMember, b: TruthMember, c: TruthMember;

  /** Polls the truth until `predicate` holds; resolves to it. */
  const truthWhere = async (predicate: (truth: Truth) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const truth = await stack.truth();
      if (predicate(truth)) return truth;
      if (Date.now() > deadline)
        throw new Error(
          `the nodes did not get there in ${timeoutMs} ms: ${JSON.stringify(truth.nodes)}`,
        );
      await sleep(250);
    }
  };
  const sees = (truth: Truth, node: string) =>
    truth.nodes.find((entry) => entry.node === node)?.sees ?? [];
  /** Every node sees the two others again (one restored link already joins the components). */
  const fullMesh = (truth: Truth) =>
    truth.nodes.length === 3 && truth.nodes.every((node) => node.sees.length === 2);

  beforeAll(async () => {
    if (process.getuid?.() !== 0) {
      throw new Error('the netns fault scenarios need root (network namespaces), as CI runs');
    }
    stack = await startReliabilityStack({
      pods: 3,
      network: 'netns',
      env: { ERL_AFLAGS: `-kernel net_ticktime ${NET_TICKTIME_S}` },
    });
    const state = await readFile(join(dirname(stack.sandbox.config), 'sandbox.json'), 'utf8');
    sandboxPid = (JSON.parse(state) as { pid: number }).pid;
    expect(await kernelObjectsOf(sandboxPid)).not.toEqual([]);
    await stack.waitForConverged(60_000);
    [a, b, c] = [...(await stack.truth()).members].sort((x, y) =>
      x.ip.localeCompare(y.ip, undefined, { numeric: true }),
    ) as [TruthMember, TruthMember, TruthMember];
    if (!c) throw new Error('the sandbox did not start three members');
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (sandboxPid === undefined) return;
    // The sandbox removes its namespaces, veths and bridge as it stops (which may outlast the
    // launcher the stack waits for): within a while, nothing of them may remain.
    const deadline = Date.now() + 30_000;
    let left = await kernelObjectsOf(sandboxPid);
    while (left.length && Date.now() < deadline) {
      await sleep(250);
      left = await kernelObjectsOf(sandboxPid);
    }
    expect(left).toEqual([]);
  }, 60_000);

  it('a partition whose one side is also cut off from beamscope, then its heal', async () => {
    const result = await runScenario(
      stack,
      {
        scenario: 'netns partition, one side cut off from beamscope',
        injected: `kernel blackhole routes: pod ${a.podName} partitioned from the other two and cut off from beamscope (net_ticktime ${NET_TICKTIME_S} s), held ${HOLD_MS / 1000} s once the nodes saw it, then healed`,
        convergeTimeoutMs: 90_000,
      },
      async () => {
        const injectedAt = Date.now();
        await stack.sandbox.control('POST', '/network-fault', {
          kind: 'partition',
          sides: [[a.ip], [b.ip, c.ip]],
        });
        await stack.sandbox.control('POST', '/network-fault', { kind: 'cut-off', pods: [a.ip] });
        // beamscope loses the cut-off node: its probes time out, and it says why.
        const detectMs = await stack.waitForStream(
          (state) => side(state, a.node)?.connection.status !== 'connected',
          60_000,
          injectedAt,
        );
        const cutOff = side(stack.stream.state(), a.node)!.connection;
        expect(cutOff.reason ?? '').not.toBe('');
        // The nodes see the split once their ticks stop; the side beamscope still reaches is shown
        // as those nodes see it, and nothing but the cut-off node differs from the truth.
        const split = await truthWhere(
          (truth) => sees(truth, a.node).length === 0 && sees(truth, b.node).join() === c.node,
          NOTICE_MS,
        );
        const partitionMs = await stack.waitForStream(
          (state) =>
            side(state, b.node)?.sees?.join() === c.node &&
            side(state, c.node)?.sees?.join() === b.node,
          30_000,
          injectedAt,
        );
        const shown = [...diff(split, await stack.dashboardState().then((view) => view.snapshot))];
        expect(shown.filter((line) => !line.includes(a.node))).toEqual([]);
        expect(side(stack.stream.state(), b.node)?.connection.status).toBe('connected');
        await sleep(HOLD_MS);
        const healedAt = Date.now();
        await stack.sandbox.control('POST', '/heal');
        await stack.waitForStream(
          (state) => side(state, a.node)?.connection.status === 'connected',
          60_000,
        );
        await truthWhere(fullMesh, 60_000);
        await stack.waitForConverged(90_000);
        return {
          detectMs,
          recoverMs: Date.now() - healedAt,
          notes: `the cut-off node shown ${cutOff.status} (${cutOff.reason ?? ''}); the split the nodes made shown ${Math.round(partitionMs / 100) / 10} s after the injection (net_ticktime ${NET_TICKTIME_S} s); during the fault the only differences from the truth were about the cut-off node: ${shown.join(' / ') || 'none'}`,
        };
      },
    );
    expect(result.error).toBeUndefined();
    expect(result.diff).toEqual([]);
    expect(result.lost).toEqual([]);
  }, 300_000);

  it('a one-way partition, shown as the nodes report it, then its heal', async () => {
    const result = await runScenario(
      stack,
      {
        scenario: 'netns one-way partition',
        injected: `a kernel blackhole route: pod ${a.podName} stops sending to ${b.podName}, which still sends to it (net_ticktime ${NET_TICKTIME_S} s), held ${HOLD_MS / 1000} s once shown, then healed`,
        convergeTimeoutMs: 90_000,
      },
      async () => {
        const injectedAt = Date.now();
        await stack.sandbox.control('POST', '/network-fault', {
          kind: 'one-way',
          from: a.ip,
          to: b.ip,
        });
        // What the nodes report: the link gone on both sides once b's ticks from a stop (b closes
        // it; a cannot connect, b's connects are never answered); c still sees both.
        await truthWhere(
          (truth) =>
            !sees(truth, a.node).includes(b.node) &&
            !sees(truth, b.node).includes(a.node) &&
            sees(truth, c.node).length === 2,
          NOTICE_MS,
        );
        // beamscope still reaches every node: its view must equal what they report.
        await stack.waitForConverged(30_000);
        const detectMs = Date.now() - injectedAt;
        expect(
          [a, b, c].map((member) => side(stack.stream.state(), member.node)?.connection.status),
        ).toEqual(['connected', 'connected', 'connected']);
        await sleep(HOLD_MS);
        const healedAt = Date.now();
        await stack.sandbox.control('POST', '/heal');
        await truthWhere(fullMesh, 60_000);
        await stack.waitForConverged(60_000);
        return {
          detectMs,
          recoverMs: Date.now() - healedAt,
          notes: `detect: until the dashboard equalled the nodes' own report of the lost link (bounded by net_ticktime ${NET_TICKTIME_S} s); recover: until the nodes reconnected and the dashboard showed it`,
        };
      },
    );
    expect(result.error).toBeUndefined();
    expect(result.diff).toEqual([]);
    expect(result.lost).toEqual([]);
  }, 300_000);

  it(`a link slowed to ${SLOW_KBIT} kbit/s, so ticks arrive late, then lifted`, async () => {
    const result = await runScenario(
      stack,
      {
        scenario: 'netns link so slow that ticks arrive late',
        injected: `pod ${c.podName}'s link limited to ${SLOW_KBIT} kbit/s both ways (htb; net_ticktime ${NET_TICKTIME_S} s), held ${HOLD_MS / 1000} s once shown, then lifted`,
        convergeTimeoutMs: 120_000,
      },
      async () => {
        const injectedAt = Date.now();
        await stack.sandbox.control('POST', '/network-fault', {
          kind: 'slow',
          pod: c.ip,
          kbit: SLOW_KBIT,
        });
        // The probes' answers queue behind each other: beamscope stops calling the node connected
        // once one times out, and says why.
        const detectMs = await stack.waitForStream(
          (state) => side(state, c.node)?.connection.status !== 'connected',
          NOTICE_MS,
          injectedAt,
        );
        const shown = side(stack.stream.state(), c.node)!.connection;
        expect(shown.reason ?? '').not.toBe('');
        // The node's ticks queue behind the rest of its traffic: the other nodes, hearing nothing
        // in time, drop it after net_ticktime, while beamscope keeps the others connected.
        await truthWhere(
          (truth) => [a, b].some((member) => !sees(truth, member.node).includes(c.node)),
          NOTICE_MS,
        );
        const droppedMs = Date.now() - injectedAt;
        // The others stay connected: only the slowed link is affected.
        expect(side(stack.stream.state(), a.node)?.connection.status).toBe('connected');
        await sleep(HOLD_MS);
        const liftedAt = Date.now();
        await stack.sandbox.control('POST', '/heal');
        await stack.waitForStream(
          (state) => side(state, c.node)?.connection.status === 'connected',
          90_000,
        );
        await truthWhere(fullMesh, 90_000);
        await stack.waitForConverged(120_000);
        return {
          detectMs,
          recoverMs: Date.now() - liftedAt,
          notes: `shown ${shown.status} (${shown.code ?? 'no code'}: ${shown.reason ?? ''}); the ticks late, the other nodes dropped it ${Math.round(droppedMs / 100) / 10} s after the injection`,
        };
      },
    );
    expect(result.error).toBeUndefined();
    expect(result.diff).toEqual([]);
    expect(result.lost).toEqual([]);
  }, 300_000);
});
