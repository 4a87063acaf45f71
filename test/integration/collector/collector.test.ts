/**
 * The collector against the emulated Kubernetes API and real BEAM nodes: epmd-less nodes
 * `myapp@10.244.X.N` on one port, each listening on 127.0.X.N (the loopback mode), as `basename@podIP` naming
 * expects. Shows joins on the SSE stream, a killed node reported down at once, a partition made
 * by the nodes themselves (detected naming both sides, then healed), and `doctor` / `snapshot`.
 */
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState, TimelineEvent } from '@/lib/cluster-state';
import { doctorCommand } from '@/server/cli/commands/doctor';
import { snapshotCommand } from '@/server/cli/commands/snapshot';
import type { CommandIo } from '@/server/cli/command';
import { startClusterCollector, type ClusterCollector } from '@/server/collector';
import type { CollectorMessage } from '@/server/collector/collector';
import type { ClusterConfig } from '@/server/config';
import { nodeDetails, registryLookup, renderMetrics } from '@/server/http/cluster-api';
import { openEventStream } from '@/server/http/sse';
import { ClusterHistory } from '@/server/history/runtime-history';
import { ClusterRuntime } from '@/server/runtime';
import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

import { makeCookieFile, startBeamNode, type BeamNode } from '../../support/beam';
import { SseReader } from '../../support/sse';
import { scratchDir, writeKubeconfig } from '../kubernetes/support';

const COOKIE = `collector_${process.pid}`;
// A third octet of our own, so other test files' nodes on 127.0.0.x never collide with ours.
const OCTET = 100 + (process.pid % 120);
// Pods get addresses a real API server accepts; their nodes listen on the loopback image, as the
// sandbox's loopback mode has them, and the collector dials them through the same mapping.
const ADDRESS_MAP = [{ from: '10.244.0.0/16', to: '127.0.0.0/16' }];
const ipOf = (index: number) => `10.244.${OCTET}.${index}`;
const listenOf = (index: number) => `127.0.${OCTET}.${index}`;
const nodeOf = (index: number) => `myapp@${ipOf(index)}`;
const LOCAL = `beamscope_ct${process.pid}@127.0.0.1`;

let api: EmulatedApi;
let scratch: { dir: string; remove: () => Promise<void> };
let port: number;
let cookieFile: string;
let cluster: ClusterConfig;
let upstream: ClusterCollector;
const nodes = new Map<number, BeamNode>();
const readers: SseReader[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, listenOf(2), () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

async function startNode(index: number, options: { cookie?: string; connectTo?: number[] } = {}) {
  const node = await startBeamNode({
    name: nodeOf(index),
    cookie: options.cookie ?? COOKIE,
    mode: 'epmdless',
    port,
    addressMap: ADDRESS_MAP,
    connectTo: (options.connectTo ?? []).map(nodeOf),
  });
  nodes.set(index, node);
  return node;
}

/** Polls the collector's state until `accept` holds. */
async function waitForState(
  accept: (state: ClusterState) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<ClusterState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { state } = upstream.collector.snapshot();
    if (accept(state)) return state;
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not reached in ${timeoutMs} ms; partitions ${JSON.stringify(state.partitions)}, members ${JSON.stringify(state.members.map((member) => [member.key, member.beam?.connection.status, member.beam?.sees]))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Collects timeline events from now on. */
function recordTimeline(): { events: TimelineEvent[]; stop: () => void } {
  const events: TimelineEvent[] = [];
  const stop = upstream.collector.subscribe((message: CollectorMessage) => {
    if (message.type === 'timeline') events.push(message.event);
  });
  return { events, stop };
}

async function waitForEvent(
  events: TimelineEvent[],
  accept: (event: TimelineEvent) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<TimelineEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = events.find(accept);
    if (found) return found;
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: no such event in ${timeoutMs} ms; got ${JSON.stringify(events.map((event) => event.message))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function captureIo(): CommandIo & { out: () => string } {
  let out = '';
  return {
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      out += text;
    },
    stopped: new Promise(() => undefined),
    out: () => out,
  };
}

async function writeConfig(localName: string): Promise<string> {
  const file = join(scratch.dir, `beamscope-${localName.split('@')[0]}.yaml`);
  const kubeconfig = await writeKubeconfig(scratch.dir, api);
  await writeFile(
    file,
    [
      'node:',
      `  name: ${localName}`,
      'clusters:',
      '  - id: sandbox',
      '    kubernetes:',
      `      kubeconfig: ${kubeconfig}`,
      '    discovery: { mode: endpointSlices, service: myapp }',
      '    nodeNaming: { mode: ip, basename: myapp }',
      '    distribution:',
      `      cookieFile: ${cookieFile}`,
      `      port: ${port}`,
      '      addressMap: [{ from: 10.244.0.0/16, to: 127.0.0.0/16 }]',
      '',
    ].join('\n'),
  );
  return file;
}

beforeAll(async () => {
  scratch = await scratchDir();
  api = await startEmulatedApi({ readyDelayMs: 50, terminationGraceMs: 200 });
  port = await freePort();
  cookieFile = await makeCookieFile(scratch.dir, COOKIE);
  const kubeconfig = await writeKubeconfig(scratch.dir, api);
  cluster = {
    id: 'sandbox',
    displayName: 'Sandbox',
    kubernetes: { kubeconfig },
    discovery: { mode: 'endpointSlices', service: 'myapp' },
    nodeNaming: { mode: 'ip', basename: 'myapp', service: 'myapp' },
    distribution: { cookieFile, port, addressMap: ADDRESS_MAP },
  };
  await startNode(2);
  await Promise.all([startNode(3, { connectTo: [2] }), startNode(4, { connectTo: [2] })]);
  for (const index of [2, 3, 4]) await api.control.createPod({ ip: ipOf(index) });
  upstream = await startClusterCollector(cluster, {
    localName: LOCAL,
    manager: { backoff: { initialMs: 100, maxMs: 500 } },
    collector: { pollIntervalMs: 500 },
  });
});

afterAll(async () => {
  await Promise.all(readers.map((reader) => reader.cancel()));
  await upstream?.stop();
  await Promise.all([...nodes.values()].map((node) => node.stop()));
  await api?.stop();
  await scratch?.remove();
});

describe('the collector with real nodes', () => {
  it('sees three pods clustered in one partition', async () => {
    const state = await waitForState(
      (current) =>
        current.partitions.length === 1 &&
        current.partitions[0]!.length === 3 &&
        current.members.every(
          (member) =>
            member.beam?.connection.status === 'connected' && member.beam.probedAt !== null,
        ),
      'a mesh of three, every node probed',
    );
    expect(state.partitions[0]).toEqual([nodeOf(2), nodeOf(3), nodeOf(4)]);
    expect(state.unclustered).toEqual([]);
    expect(state.ghosts).toEqual([]);
    const member = state.members[0]!;
    expect(member.kubernetes?.ip).toBe(ipOf(2));
    expect(member.beam).toMatchObject({ otpRelease: expect.any(String) });
    expect(member.beam?.processCount).toBeGreaterThan(10);
    expect(member.beam?.registries.map((registry) => registry.registry)).toContain('global');
    await expect
      .poll(() => upstream.collector.nodeHistory(nodeOf(2)).length, { timeout: 5000 })
      .toBeGreaterThan(0);
  });

  it('serves node details, name lookups and metrics from the same collector', async () => {
    await nodes.get(3)!.eval('beamscope_fixture:global_names("ct_name", 2)');
    const unrecorded = { kind: 'memory' as const, store: null, error: null, holder: 'test' };
    const runtime = new ClusterRuntime(
      upstream,
      new ClusterHistory(unrecorded, upstream.collector, () => {}),
    );
    await waitForState(
      (state) =>
        state.members.every((member) =>
          member.beam?.registries.some((entry) => entry.registry === 'global' && entry.count === 2),
        ),
      'the global names seen by every node',
    );
    const details = nodeDetails(runtime, encodeURIComponent(nodeOf(3)));
    expect(details.member.kubernetes?.ip).toBe(ipOf(3));
    expect(details.history.length).toBeGreaterThan(0);
    expect(() => nodeDetails(runtime, 'not a node')).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
    expect(() => nodeDetails(runtime, 'myapp@10.9.9.9')).toThrow(
      expect.objectContaining({ code: 'node_not_found' }),
    );

    const found = await registryLookup(runtime, new URLSearchParams({ name: 'ct_name_1' }));
    expect(found.nodes.map((entry) => entry.node)).toEqual([nodeOf(2), nodeOf(3), nodeOf(4)]);
    for (const entry of found.nodes) {
      expect(entry.matches).toContainEqual(
        expect.objectContaining({
          registry: 'global',
          pid: expect.objectContaining({ node: nodeOf(3) }),
        }),
      );
    }
    expect(() => registryLookup(runtime, new URLSearchParams())).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
    await expect(
      registryLookup(runtime, new URLSearchParams({ name: 'x'.repeat(2000) })),
    ).rejects.toMatchObject({ code: 'bad_request' });

    const metrics = await renderMetrics([runtime]);
    expect(metrics).toContain('beamscope_members{cluster="sandbox"} 3');
    expect(metrics).toContain('beamscope_partitions{cluster="sandbox"} 1');
    expect(metrics).toContain(
      `beamscope_registered_names{cluster="sandbox",node="${nodeOf(2)}",registry="global"} 2`,
    );
    expect(metrics).toMatch(/beamscope_probe_duration_seconds_count\{cluster="sandbox"\} [1-9]/);
    expect(metrics).toMatch(/# TYPE beamscope_probe_duration_seconds histogram/);
  });

  it('reports a pod and node added as member joined on the event stream, then node up', async () => {
    const reader = new SseReader(openEventStream(upstream.collector));
    readers.push(reader);
    await reader.waitFor((events) => events.some((event) => event.event === 'snapshot'));
    await startNode(5, { connectTo: [2] });
    await api.control.createPod({ ip: ipOf(5) });
    const timeline = () =>
      reader.messages
        .filter((event) => event.event === 'timeline')
        .map((event) => JSON.parse(event.data!) as TimelineEvent);
    await reader.waitFor(() =>
      timeline().some((event) => event.kind === 'member_joined' && event.node === nodeOf(5)),
    );
    await reader.waitFor(() =>
      timeline().some((event) => event.kind === 'node_up' && event.node === nodeOf(5)),
    );
    const ids = reader.messages.map((event) => Number(event.id?.split('-')[1]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    await waitForState((state) => state.partitions[0]?.length === 4, 'a mesh of four');
    await reader.cancel();
  });

  it('detects a partition naming both sides, and its heal', async () => {
    const recorded = recordTimeline();
    const isolated = nodes.get(5)!;
    const others = [2, 3, 4].map(nodeOf);
    // A wrong cookie for each peer keeps the split in place: global would otherwise reconnect.
    await isolated.eval(
      `[begin erlang:set_cookie(N, wrong_cookie), erlang:disconnect_node(N) end || N <- [${others.map((name) => `'${name}'`).join(', ')}]]`,
    );
    const detected = await waitForEvent(
      recorded.events,
      (event) => event.kind === 'partition_detected',
      'partition detected',
    );
    const sides = [
      { count: 3, sample: others },
      { count: 1, sample: [nodeOf(5)] },
    ];
    expect(detected).toMatchObject({ sides, sideCount: 2, expandable: true });
    const split = await waitForState((state) => state.partitions.length === 2, 'two partitions');
    expect(split.unclustered).toEqual([
      expect.objectContaining({ node: nodeOf(5), reason: 'not_connected_to_peers' }),
    ]);

    await isolated.eval(
      `[erlang:set_cookie(N, '${COOKIE}') || N <- [${others.map((name) => `'${name}'`).join(', ')}]], net_kernel:connect_node('${nodeOf(2)}')`,
    );
    const healed = await waitForEvent(
      recorded.events,
      (event) => event.kind === 'partition_healed',
      'partition healed',
    );
    expect(healed).toMatchObject({ sides, sideCount: 2, expandable: true });
    await waitForState((state) => state.partitions.length === 1, 'one partition again');
    recorded.stop();
  });

  it('reports a killed node down without waiting for a poll', async () => {
    const recorded = recordTimeline();
    nodes.get(5)!.kill();
    nodes.delete(5);
    const down = await waitForEvent(
      recorded.events,
      (event) => event.kind === 'node_down' && event.node === nodeOf(5),
      'node down',
      5000,
    );
    expect(down.severity).toBe('error');
    recorded.stop();
  });

  it('doctor says which pod refused the cookie and exits non-zero', async () => {
    await startNode(6, { cookie: 'not_the_cluster_cookie' });
    await api.control.createPod({ ip: ipOf(6) });
    // The killed node's pod would fail the doctor too; leave only the miscookied one wrong.
    const killed = api.control.pods().find((pod) => pod.ip === ipOf(5));
    if (killed) api.control.deletePod(killed.name);
    await waitForState(
      (state) => !state.members.some((member) => member.kubernetes?.ip === ipOf(5)),
      'the killed pod gone',
    );
    const config = await writeConfig(`beamscope_maint_dr${process.pid}@127.0.0.1`);
    const io = captureIo();
    const code = await doctorCommand.run(['--config', config, '--timeout', '15'], io);
    const lines = io.out().split('\n');
    const line = lines.find((text) => text.includes(nodeOf(6)));
    expect(line, io.out()).toMatch(/^FAIL/);
    expect(line).toContain('refused the cookie');
    expect(line).toContain(cookieFile);
    expect(line).not.toContain(COOKIE);
    for (const index of [2, 3, 4]) {
      expect(lines.find((text) => text.includes(nodeOf(index)))).toMatch(/^ok .*clustered/);
    }
    expect(code).toBe(1);
  });

  it('snapshot --json shows the members and partitions the collector serves', async () => {
    const config = await writeConfig(`beamscope_maint_sn${process.pid}@127.0.0.1`);
    const io = captureIo();
    const code = await snapshotCommand.run(['--config', config, '--json', '--timeout', '15'], io);
    expect(code).toBe(0);
    const printed = JSON.parse(io.out()) as ClusterState;
    const served = await waitForState(
      (state) => state.members.length === printed.members.length,
      'the same members',
    );
    expect(printed.members.map((member) => member.key)).toEqual(
      served.members.map((member) => member.key),
    );
    expect(printed.partitions).toEqual(served.partitions);
    expect(printed.partitions).toEqual([[nodeOf(2), nodeOf(3), nodeOf(4)]]);
    expect(printed.unclustered.map((entry) => [entry.node, entry.reason])).toEqual([
      [nodeOf(6), 'auth_failed'],
    ]);
  });

  it('doctor names the RBAC rule to grant when a watch is forbidden', async () => {
    api.control.setForbidden('endpointslices', true);
    try {
      const config = await writeConfig(`beamscope_maint_rb${process.pid}@127.0.0.1`);
      const io = captureIo();
      const code = await doctorCommand.run(['--config', config, '--timeout', '10'], io);
      expect(code).toBe(1);
      const line = io
        .out()
        .split('\n')
        .find((text) => text.includes('endpointslices'));
      expect(line, io.out()).toMatch(/^FAIL {2}kubernetes endpointslices: RBAC forbids/);
      expect(line).toContain('grant a Role with get, list and watch on endpointslices');
    } finally {
      api.control.setForbidden('endpointslices', false);
    }
  });
});
