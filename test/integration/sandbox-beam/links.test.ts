/**
 * Links and tick health against real BEAM pods (issue 18, items 1, 2 and 5): a `beamscope
 * sandbox` of three pods, driven through its CLI; the collector watching it through the
 * sandbox's own beamscope.yaml. One pod's app floods its link to another (the demo app's doing,
 * asked by the sandbox: beamscope only reads), and the collector shows that link's traffic and
 * its distribution port queued, busy past the high watermark; one pod is given another
 * net_ticktime, and `beamscope doctor` says the nodes disagree.
 *
 * What is reliably observable on loopback: the flooded link's packet rate (thousands per second,
 * against a fraction of one for ticks) at every reading, and its port queue (about 100 kB, past
 * the 8 kB watermark) at most readings — the kernel drains loopback fast, so an occasional
 * reading finds the queue empty. The test waits for a reading that shows it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState } from '@/lib/cluster-state';
import { hotLinks, linkTraffic, type LinkTraffic } from '@/lib/links';
import { doctorCommand } from '@/server/cli/commands/doctor';
import type { CommandIo } from '@/server/cli/command';
import { startClusterCollector, type ClusterCollector } from '@/server/collector';
import { loadConfig } from '@/server/config';

import { runBeamscope, startCliSandbox, type CliSandbox } from '../../support/cli';
import { waitFor } from './support';

const LOCAL = `beamscope_maint_lk${process.pid}@127.0.0.1`;

describe('links and tick health on real BEAM pods', () => {
  let dir: string;
  let sandbox: CliSandbox;
  let upstream: ClusterCollector;

  const state = (): ClusterState => upstream.collector.snapshot().state;
  const connectedNodes = (current: ClusterState) =>
    current.members.filter((member) => member.beam?.connection.status === 'connected');
  const podsByIp = (current: ClusterState) =>
    current.members
      .map((member) => member.kubernetes)
      .filter((pod) => pod !== null)
      .sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-links-'));
    sandbox = await startCliSandbox(dir, { pods: 3, devices: 100 });
    const config = await loadConfig(sandbox.config);
    upstream = await startClusterCollector(config.clusters[0]!, {
      localName: LOCAL,
      collector: { pollIntervalMs: 500 },
    });
    await waitFor(
      'three connected, meshed nodes with their links read twice',
      state,
      (current) =>
        connectedNodes(current).length === 3 &&
        current.partitions.length === 1 &&
        connectedNodes(current).every(
          (member) =>
            member.beam!.links?.length === 2 &&
            member.beam!.links.every((link) => link.outRate !== null),
        ),
      45_000,
    );
  }, 120_000);

  afterAll(async () => {
    await upstream?.stop();
    await sandbox?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads each link’s traffic, its age and the busy limit, and agrees on net_ticktime', () => {
    const current = state();
    for (const member of connectedNodes(current)) {
      const side = member.beam!;
      expect(side.netTicktimeSeconds).toBe(60);
      expect(side.distBufBusyLimitBytes).toBe(1024 * 1024);
      for (const link of side.links!) {
        expect(link.since).toBeLessThanOrEqual(current.at);
        expect(link.queueBytes === null || link.queueBytes >= 0).toBe(true);
      }
    }
    expect(current.tickSkew).toBeNull();
    // At rest no link is busy: the hot list holds ticks and Swarm's chatter at most.
    expect(hotLinks(linkTraffic(current.members)).some((link) => link.busy)).toBe(false);
  });

  it('shows a flooded link with high traffic and its distribution port queued past the watermark', async () => {
    const [from, to] = podsByIp(state());
    const flood = await runBeamscope(
      ['sandbox', 'flood', from!.podName!, to!.podName!, '40', '--dir', dir],
      28_000,
    );
    expect(flood.stderr).toBe('');
    expect(flood.stdout).toContain(`floods its link to ${to!.podName}`);
    try {
      const fromNode = from!.beamNode!;
      const toNode = to!.beamNode!;
      // Rates are taken over 5 s windows: the queue may show busy before the rate catches up.
      const sendingRate = (hot: LinkTraffic) => (hot.a === fromNode ? hot.aToB : hot.bToA) ?? 0;
      const shown = (await waitFor(
        'the flooded link busy on the sending node, at thousands of packets a second',
        () => hotLinks(linkTraffic(state().members))[0],
        (hot) =>
          hot !== undefined &&
          [hot.a, hot.b].sort().join() === [fromNode, toNode].sort().join() &&
          hot.busy &&
          sendingRate(hot) > 500,
        30_000,
      ))!;
      expect(shown.busyAt).toContain(fromNode);
      expect(shown.queueBytes).toBeGreaterThanOrEqual(8192);
      // The doctor, in the same collector's words, names the busy link. It reads each queue
      // once, and a flooded link's queue is past the watermark at about four readings in five
      // (it drains between bursts): a few runs, as an operator would run it again.
      const doctorOutput = await waitFor(
        'the doctor to name the busy link',
        async () => {
          const io = captureIo();
          await doctorCommand.run(['--config', sandbox.config, '--timeout', '15'], io);
          return io.out();
        },
        (out) => /WARN {2}link .* distribution buffer is full at/.test(out),
        60_000,
      );
      expect(doctorOutput).toMatch(/WARN {2}link .* distribution buffer is full at/);
    } finally {
      await runBeamscope(['sandbox', 'flood', from!.podName!, to!.podName!, '0', '--dir', dir]);
    }
    // Once stopped, the link calms down and is no longer busy.
    await waitFor(
      'no busy link after the flood',
      () => hotLinks(linkTraffic(state().members)),
      (hot) => !hot.some((link) => link.busy) && (hot[0]?.rate ?? 0) < 500,
      30_000,
    );
    // The flood's start, the doctor's runs and the calm after it: each wait is bounded above.
  }, 150_000);

  it('flags a node given another net_ticktime, and the doctor says so', async () => {
    const [, , odd] = podsByIp(state());
    const changed = await runBeamscope(
      ['sandbox', 'ticktime', odd!.podName!, '90', '--dir', dir],
      28_000,
    );
    expect(changed.stdout).toContain('now runs with net_ticktime 90 s');
    const skewed = await waitFor('the tick skew', state, (current) => current.tickSkew !== null);
    expect(skewed.tickSkew!.values).toEqual([
      { seconds: 60, nodes: expect.any(Array) },
      { seconds: 90, nodes: [odd!.beamNode] },
    ]);
    const io = captureIo();
    const code = await doctorCommand.run(['--config', sandbox.config, '--timeout', '15'], io);
    const line = io
      .out()
      .split('\n')
      .find((text) => text.includes('net_ticktime'));
    expect(line, io.out()).toMatch(/^WARN {2}mesh: nodes disagree on net_ticktime/);
    expect(line).toContain(`90 s on ${odd!.beamNode}`);
    expect(line).toContain(`-kernel net_ticktime 60 on ${odd!.beamNode}`);
    // A warning, not a failure: the nodes still mesh.
    expect(code).toBe(0);
  });
});

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
