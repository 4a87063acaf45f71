/**
 * Code skew against real BEAM pods: the sandbox (`beamscope sandbox`, as the demo runs it)
 * restarts one pod with release 0.2.0 of the demo app, whose `myapp_device` differs; the
 * collector's code scans list that module as skewed on that one node, and the `myapp`
 * application's two versions. Replacing the pod (a new one from the template, 0.1.0) ends the
 * skew; a rolling upgrade to 0.2.0 ends with every node on 0.2.0 and nothing skewed. The timeline
 * tells of the skew when it appears and when it clears, one event each. A scan creates no atom on
 * the node and loads no module.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState, TimelineEvent } from '@/lib/cluster-state';
import { moduleSkewLine } from '@/lib/code-skew';
import type { CommandIo } from '@/server/cli/command';
import { doctorCommand } from '@/server/cli/commands/doctor';
import { startClusterCollector, type ClusterCollector } from '@/server/collector';
import { loadConfig } from '@/server/config';
import { atom, type Term } from '@/server/erlang/codec/terms';
import { scanCode, type RpcFunction } from '@/server/erlang/probes';

import { startSandbox, type RunningSandbox } from '../../e2e/support/app';

const LOCAL = `beamscope_skew${process.pid}@127.0.0.1`;

let sandbox: RunningSandbox;
let upstream: ClusterCollector;

interface PodStatus {
  name: string;
  ip: string;
  ready: boolean;
  terminating: boolean;
}

async function livePods(): Promise<PodStatus[]> {
  const status = (await sandbox.control('GET', '/status')) as { pods: PodStatus[] };
  return status.pods.filter((pod) => pod.ready && !pod.terminating);
}

/** Polls the collector's state until `accept` holds; the error shows the skew as it was. */
async function waitForState(
  accept: (state: ClusterState) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<ClusterState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { state } = upstream.collector.snapshot();
    if (accept(state)) return state;
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not reached in ${timeoutMs} ms; skew ${JSON.stringify(state.codeSkew)}, scans ${JSON.stringify(state.members.map((member) => [member.key, member.beam?.connection.status, member.beam?.codeScan, member.beam?.applications?.find((app) => app.name === 'myapp')]))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every ready pod's node connected, scanned since `since`, and running `version` of myapp. */
function allScanned(state: ClusterState, pods: number, since = 0): boolean {
  const scanned = state.members.filter(
    (member) =>
      member.kubernetes?.ready &&
      !member.kubernetes.terminating &&
      member.beam?.connection.status === 'connected' &&
      (member.beam.codeScan?.at ?? 0) > since &&
      member.beam.codeScan?.error === null,
  );
  return scanned.length === pods;
}

/** The collector's code skew events after sequence number `after`, oldest first. */
function codeSkewEvents(after = 0): TimelineEvent[] {
  return upstream.collector
    .snapshot()
    .timeline.filter((event) => event.seq > after && event.kind.startsWith('code_skew_'));
}

const myappVersion = (state: ClusterState, node: string) =>
  state.members
    .find((member) => member.node === node)
    ?.beam?.applications?.find((app) => app.name === 'myapp')?.version;

beforeAll(async () => {
  sandbox = await startSandbox(3);
  const config = await loadConfig(sandbox.config, {});
  upstream = await startClusterCollector(config.clusters[0]!, {
    localName: LOCAL,
    manager: { backoff: { initialMs: 100, maxMs: 500 } },
    collector: { pollIntervalMs: 500, codeScan: { minIntervalMs: 1000, chunkSize: 7 } },
  });
}, 120_000);

afterAll(async () => {
  await upstream?.stop();
  await sandbox?.stop();
});

describe('code skew on real BEAM pods', () => {
  it('scans every node and finds the same code everywhere', async () => {
    const state = await waitForState((current) => allScanned(current, 3), 'three nodes scanned');
    expect(state.codeSkew).toBeNull();
    for (const member of state.members) {
      // The demo app's modules and kernel's and stdlib's loaded ones, in chunks of 7.
      expect(member.beam?.codeScan?.modules).toBeGreaterThan(20);
      expect(member.beam?.codeScan?.skipped).toBe(0);
      expect(myappVersion(state, member.node!)).toBe('0.1.0');
    }
  });

  it('creates no atom and loads no module on the node it scans', async () => {
    const [pod] = await livePods();
    const node = `myapp@${pod!.ip}`;
    const rpc: RpcFunction = (module, fn, args, options) =>
      upstream.manager!.rpc(node, module, fn, args, options);
    const count = async (): Promise<[Term, number]> => [
      await rpc('erlang', 'system_info', [atom('atom_count')]),
      ((await rpc('erlang', 'loaded', [])) as Term[]).length,
    ];
    // Once first, so that anything rex itself loads or names on a first call is in the baseline.
    await scanCode(rpc);
    const before = await count();
    const result = await scanCode(rpc, { chunkSize: 50 });
    const after = await count();
    expect(result.modules).toContain('myapp_device');
    expect(result.error).toBeNull();
    expect(after).toEqual(before);
  });

  it('lists myapp_device as skewed on the pod restarted with release 0.2.0', async () => {
    const pods = await livePods();
    const target = pods[0]!;
    const node = `myapp@${target.ip}`;
    const before = upstream.collector.snapshot().seq;
    await sandbox.control('POST', `/pods/${target.name}/app-version`, { version: '0.2.0' });
    const state = await waitForState(
      (current) => current.codeSkew !== null && myappVersion(current, node) === '0.2.0',
      'the skew of one pod on 0.2.0',
    );
    const skew = state.codeSkew!;
    expect(skew.moduleCount).toBe(1);
    const device = skew.modules[0]!;
    expect(device.module).toBe('myapp_device');
    expect(device.versions.map((version) => version.count)).toEqual([2, 1]);
    expect(device.versions[1]!.nodes).toEqual([node]);
    expect(moduleSkewLine(device)).toBe('myapp_device differs on 1 of 3 nodes (two versions)');
    expect(skew.applications).toEqual([
      expect.objectContaining({
        application: 'myapp',
        versions: [
          expect.objectContaining({ id: '0.1.0', count: 2 }),
          expect.objectContaining({ id: '0.2.0', count: 1, nodes: [node] }),
        ],
      }),
    ]);
    // The timeline told of it once, naming the module.
    await waitForState(() => codeSkewEvents(before).length > 0, 'a code skew event');
    const [detected, ...others] = codeSkewEvents(before);
    expect(detected).toMatchObject({
      kind: 'code_skew_detected',
      severity: 'warning',
      message: 'code skew: myapp_device differs on 1 of 3 nodes (two versions)',
      codeSkew: {
        scannedNodes: 3,
        modules: { count: 1, sample: ['myapp_device'] },
        applications: { count: 1, sample: ['myapp'] },
      },
    });
    expect(others).toEqual([]);
    // The doctor says it too: the command, with its own connections and scans.
    let out = '';
    const io: CommandIo = {
      stdout: (text) => (out += text),
      stderr: (text) => (out += text),
      stopped: new Promise(() => undefined),
    };
    await doctorCommand.run(['--config', sandbox.config, '--timeout', '30'], io);
    expect(out).toContain('WARN  code: myapp_device differs on 1 of 3 nodes (two versions)');
    expect(out).toContain('WARN  code: myapp runs 0.1.0 on 2 nodes, 0.2.0 on 1');
  }, 90_000);

  it('shows no skew once that pod is replaced by one of the template', async () => {
    const [target] = (await livePods()).filter(
      (pod) => myappVersion(upstream.collector.snapshot().state, `myapp@${pod.ip}`) === '0.2.0',
    );
    expect(target).toBeDefined();
    const before = upstream.collector.snapshot().seq;
    await sandbox.control('DELETE', `/pods/${target!.name}`);
    await sandbox.control('POST', '/scale', { replicas: 3 });
    // The replacement may get the same IP (and node name) once the old pod is gone: what counts
    // is that every live node runs 0.1.0 again and the skew went with the old pod.
    const state = await waitForState(
      (current) =>
        current.codeSkew === null &&
        allScanned(current, 3) &&
        current.members
          .filter((member) => member.kubernetes?.ready && !member.kubernetes.terminating)
          .every((member) => myappVersion(current, member.node!) === '0.1.0'),
      'the skew gone after the replacement',
      90_000,
    );
    expect(state.codeSkew).toBeNull();
    expect(codeSkewEvents(before).map(({ kind, message }) => ({ kind, message }))).toEqual([
      { kind: 'code_skew_cleared', message: 'code skew cleared: every node runs the same code' },
    ]);
  }, 120_000);

  it('ends a rolling upgrade with every node on 0.2.0 and nothing skewed', async () => {
    const started = Date.now();
    await sandbox.control('POST', '/upgrade', { version: '0.2.0' });
    const state = await waitForState(
      (current) =>
        current.codeSkew === null &&
        allScanned(current, 3, started) &&
        current.members
          .filter((member) => member.kubernetes?.ready && !member.kubernetes.terminating)
          .every((member) => myappVersion(current, member.node!) === '0.2.0'),
      'every node on 0.2.0',
      120_000,
    );
    expect(state.codeSkew).toBeNull();
  }, 180_000);
});
