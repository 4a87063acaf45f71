import { describe, expect, it } from 'vitest';

import type { PeerLink } from '@/lib/cluster-state';
import { configFindings } from '@/lib/config-findings';
import { linkFindings } from '@/lib/diagnosis';
import {
  BUSY_QUEUE_BYTES,
  formatRate,
  hotLinks,
  linkTraffic,
  tickMismatchOf,
  trafficLevel,
} from '@/lib/links';
import { buildGraphModel } from '@/lib/graph-model';

import { fullMesh, ip, n, pod, side, stateOf } from './fixtures';

const link = (
  peer: string,
  outRate: number,
  inRate = 1,
  queueBytes: number | null = 0,
): PeerLink => ({
  peer,
  inRate,
  outRate,
  queueBytes,
  since: 100,
});

/** Three nodes in a full mesh; node 1 floods node 2, whose queue towards it is past the limit. */
function flooded() {
  const sides = fullMesh([1, 2, 3]);
  sides[0] = { ...sides[0]!, links: [link(n(2), 20_000, 3, 100_000), link(n(3), 1)] };
  sides[1] = { ...sides[1]!, links: [link(n(1), 3, 19_000), link(n(3), 1)] };
  sides[2] = { ...sides[2]!, links: [link(n(1), 1), link(n(2), 1)] };
  return stateOf([pod(ip(1)), pod(ip(2)), pod(ip(3))], sides);
}

describe('link traffic', () => {
  it('joins both ends of each link: the sender’s count per direction, the larger queue', () => {
    const traffic = linkTraffic(flooded().members);
    expect(traffic.size).toBe(3);
    const hot = hotLinks(traffic);
    expect(hot[0]).toMatchObject({
      a: n(1),
      b: n(2),
      aToB: 20_000,
      bToA: 3,
      rate: 20_003,
      queueBytes: 100_000,
      busy: true,
      busyAt: [n(1)],
      since: 100,
    });
    expect(hot.map((entry) => entry.busy)).toEqual([true, false, false]);
    expect(hotLinks(traffic, 1)).toHaveLength(1);
  });

  it('counts a link busy only from the port’s high watermark', () => {
    const sides = fullMesh([1, 2]);
    sides[0] = { ...sides[0]!, links: [link(n(2), 5, 5, BUSY_QUEUE_BYTES - 1)] };
    const traffic = linkTraffic(stateOf([pod(ip(1)), pod(ip(2))], sides).members);
    expect([...traffic.values()][0]).toMatchObject({
      busy: false,
      queueBytes: BUSY_QUEUE_BYTES - 1,
    });
  });

  it('scales rates for drawing and writes them short', () => {
    expect(trafficLevel(null, 100)).toBe(0);
    expect(trafficLevel(20_000, 20_000)).toBe(1);
    expect(trafficLevel(1, 20_000)).toBeGreaterThan(0);
    expect(trafficLevel(1, 20_000)).toBeLessThan(trafficLevel(100, 20_000));
    expect([
      formatRate(0.07),
      formatRate(3.4),
      formatRate(42),
      formatRate(3400),
      formatRate(20_000),
    ]).toEqual(['0.07/s', '3.4/s', '42/s', '3.4k/s', '20k/s']);
  });

  it('gives the graph each link’s traffic and busy flag', () => {
    const model = buildGraphModel(flooded());
    const busy = model.links.filter((entry) => entry.busy);
    expect(busy).toHaveLength(1);
    expect(busy[0]!.level).toBe(1);
    expect(model.links.every((entry) => entry.level >= 0 && entry.level <= 1)).toBe(true);
    // Past the threshold agreed links give way to groups, but a busy link is still drawn.
    const grouped = buildGraphModel(flooded(), { linkThreshold: 2 });
    expect(grouped.mode).toBe('groups');
    expect(grouped.links.map((entry) => [entry.kind, entry.busy])).toEqual([['link', true]]);
  });
});

describe('tick health', () => {
  it('groups nodes by net_ticktime, the usual value first, and names the odd one out', () => {
    const sides = fullMesh([1, 2, 3]);
    sides[2] = { ...sides[2]!, netTicktimeSeconds: 120 };
    const state = stateOf([pod(ip(1)), pod(ip(2)), pod(ip(3))], sides);
    expect(state.tickSkew).toEqual({
      values: [
        { seconds: 60, nodes: [n(1), n(2)] },
        { seconds: 120, nodes: [n(3)] },
      ],
    });
    expect(tickMismatchOf(sides[2]!, state.tickSkew)).toEqual({ seconds: 120, usual: 60 });
    expect(tickMismatchOf(sides[0]!, state.tickSkew)).toBeNull();
    const findings = linkFindings(state);
    expect(findings.map((finding) => finding.code)).toEqual(['tick_mismatch']);
    expect(findings[0]!.reason).toContain(
      '60 s on myapp@10.0.0.1, myapp@10.0.0.2; 120 s on myapp@10.0.0.3',
    );
    expect(findings[0]!.reason).toContain('-kernel net_ticktime 60 on myapp@10.0.0.3');
  });

  it('is quiet while the nodes agree', () => {
    const state = stateOf([pod(ip(1)), pod(ip(2))], fullMesh([1, 2]));
    expect(state.tickSkew).toBeNull();
    expect(linkFindings(state)).toEqual([]);
  });
});

describe('the doctor on links, releases and configuration', () => {
  it('names a busy link and releases more than two apart', () => {
    const state = flooded();
    state.otpSkew = {
      releases: [
        { otpRelease: '23', nodes: [n(1)] },
        { otpRelease: '26', nodes: [n(2), n(3)] },
      ],
    };
    const findings = linkFindings(state);
    expect(findings.map((finding) => [finding.code, finding.verdict])).toEqual([
      ['otp_incompatible', 'fail'],
      ['busy_link', 'warn'],
    ]);
    expect(findings[0]!.reason).toMatch(/OTP 23 .* and OTP 26 .* are 3 releases apart/);
    expect(findings[1]!.subject).toBe(`link ${n(1)} – ${n(2)}`);
    state.otpSkew = {
      releases: [
        { otpRelease: '25', nodes: [n(1)] },
        { otpRelease: '27', nodes: [n(2)] },
      ],
    };
    expect(linkFindings(state).map((finding) => finding.code)).toEqual(['busy_link']);
  });

  it('flags EPMD’s port given as the distribution port', () => {
    const state = stateOf([pod(ip(1))], fullMesh([1]));
    expect(configFindings(state, { distributionPort: 4369 })[0]).toMatchObject({
      code: 'epmd_port_confusion',
      verdict: 'fail',
    });
    expect(configFindings(state, { distributionPort: 9100 })).toEqual([]);
  });

  it('reads every node missing from EPMD, or no EPMD anywhere, as a port mix-up', () => {
    const failing = (code: 'epmd_unreachable' | 'node_not_registered') =>
      stateOf(
        [pod(ip(1)), pod(ip(2))],
        [1, 2].map((i) =>
          side(n(i), null, { connection: { status: 'unreachable', since: 1, code } }),
        ),
      );
    expect(configFindings(failing('epmd_unreachable'))[0]!.reason).toMatch(/distribution\.port/);
    expect(configFindings(failing('node_not_registered'))[0]!.reason).toMatch(/EPMD answers/);
    // With a port configured EPMD is not asked: those codes cannot be about it.
    expect(configFindings(failing('epmd_unreachable'), { distributionPort: 9100 })).toEqual([]);
  });

  it('flags an Endpoints object at its 1,000-address limit, and a Service past it', () => {
    const pods = Array.from({ length: 1000 }, (_, index) =>
      pod(`10.1.${Math.floor(index / 250)}.${index % 250}`, {
        source: { kind: 'Endpoints', name: 'myapp' },
      }),
    );
    const state = stateOf(pods, []);
    const findings = configFindings(state, { discoveryMode: 'endpoints' });
    expect(findings.map((finding) => [finding.subject, finding.code, finding.verdict])).toEqual([
      ['endpoints myapp', 'endpoints_truncated', 'fail'],
    ]);
    const slices = stateOf(
      [...pods, pod('10.2.0.1')].map((entry) => ({
        ...entry,
        source: { kind: 'EndpointSlice' as const, name: 'myapp-x' },
      })),
      [],
    );
    expect(configFindings(slices, { discoveryMode: 'endpointSlices' })).toMatchObject([
      { code: 'endpoints_truncated', verdict: 'warn' },
    ]);
    expect(configFindings(stateOf(pods.slice(0, 999), []), { discoveryMode: 'endpoints' })).toEqual(
      [],
    );
  });

  it("reads the Endpoints controller's over-capacity annotation, the count left as a fallback", () => {
    const listed = (count: number, overCapacity?: string) =>
      stateOf(
        Array.from({ length: count }, (_, index) =>
          pod(`10.1.${Math.floor(index / 250)}.${index % 250}`, {
            source: { kind: 'Endpoints', name: 'myapp', ...(overCapacity ? { overCapacity } : {}) },
          }),
        ),
        [],
      );
    // Truncated: what is left may be fewer than 1,000 (not-ready addresses go first, say).
    const truncated = configFindings(listed(600, 'truncated'), { discoveryMode: 'endpoints' });
    expect(truncated).toMatchObject([
      { subject: 'endpoints myapp', code: 'endpoints_truncated', verdict: 'fail' },
    ]);
    expect(truncated[0]!.reason).toContain(
      'the Endpoints controller truncated this object (annotation endpoints.kubernetes.io/over-capacity: truncated): it lists 600 addresses',
    );
    // An older controller's "warning": over capacity, nothing cut yet.
    expect(configFindings(listed(1000, 'warning'), { discoveryMode: 'endpoints' })).toMatchObject([
      { code: 'endpoints_truncated', verdict: 'warn' },
    ]);
    // No annotation: the count alone.
    expect(configFindings(listed(1000), { discoveryMode: 'endpoints' })).toMatchObject([
      { code: 'endpoints_truncated', verdict: 'fail' },
    ]);
    expect(configFindings(listed(10), { discoveryMode: 'endpoints' })).toEqual([]);
  });
});
