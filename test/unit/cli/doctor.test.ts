import { describe, expect, it } from 'vitest';

import type { ClusterState } from '@/lib/cluster-state';
import type { CollectedCluster } from '@/server/cli/commands/collect';
import { anyFailure, diagnose, formatFindings } from '@/server/cli/commands/doctor';
import { formatClusterState } from '@/server/cli/commands/snapshot';
import type { ClusterConfig } from '@/server/config';

import { fullMesh, ip, n, pod, side, stateOf } from '../lib/fixtures';

const cluster: ClusterConfig = {
  id: 'test',
  displayName: 'Test',
  discovery: { mode: 'endpointSlices', service: 'myapp' },
  nodeNaming: { mode: 'ip', basename: 'myapp' },
  distribution: { cookieEnv: 'RELEASE_COOKIE', port: 9100 },
};

function collected(state: ClusterState, extra: Partial<CollectedCluster> = {}): CollectedCluster {
  return {
    config: { clusters: [cluster], sourcePath: '/etc/beamscope.yaml' },
    cluster,
    state,
    kubernetesError: null,
    resources: [],
    settled: true,
    ...extra,
  };
}

describe('diagnose', () => {
  it('passes a healthy cluster', () => {
    const findings = diagnose(collected(stateOf([pod(ip(1)), pod(ip(2))], fullMesh([1, 2]))));
    expect(findings.map((finding) => [finding.subject, finding.verdict, finding.code])).toEqual([
      [`pod myapp-abc-1 (${n(1)})`, 'ok', 'clustered'],
      [`pod myapp-abc-2 (${n(2)})`, 'ok', 'clustered'],
    ]);
    expect(anyFailure(findings)).toBe(false);
  });

  it('names the cookie source, the expected name, the port and the partition', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3)), pod(ip(4)), pod(ip(5)), pod(ip(6), { ready: false })],
      [
        side(n(1), [n(2), 'myapp@host-4']),
        side(n(2), [n(1)]),
        side(n(3), null, {
          connection: {
            status: 'auth_failed',
            since: 1,
            code: 'auth_failed',
            reason: `node ${n(3)} rejected the cookie`,
          },
        }),
        side(n(4), null, {
          connection: { status: 'unreachable', since: 1, code: 'dist_unreachable' },
        }),
        side(n(5), []),
        side(n(6), null, { connection: { status: 'connecting', since: 1 } }),
      ],
    );
    const findings = diagnose(collected(state));
    const byCode = Object.fromEntries(findings.map((finding) => [finding.code, finding]));
    expect(byCode.auth_failed?.reason).toContain('refused the cookie');
    expect(byCode.auth_failed?.reason).toContain('the environment variable RELEASE_COOKIE');
    expect(byCode.unreachable?.reason).toContain('distribution port 9100');
    expect(byCode.not_connected_to_peers?.reason).toContain('sees none of its peers');
    expect(byCode.not_ready?.verdict).toBe('warn');
    expect(byCode.ghost?.subject).toBe('node myapp@host-4');
    expect(byCode.partitioned?.reason).toContain(`[${n(5)}]`);
    expect(anyFailure(findings)).toBe(true);
    expect(formatFindings(findings).split('\n')[0]).toMatch(/^ok {4}pod myapp-abc-1/);
  });

  it('shows the RBAC rule to grant when a watch is forbidden', () => {
    const state = stateOf([], []);
    const reason =
      'RBAC forbids system:serviceaccount:default:beamscope to list endpointslices (discovery.k8s.io) in namespace "default": grant a Role with get, list and watch on endpointslices in discovery.k8s.io';
    const findings = diagnose(
      collected(
        { ...state, kubernetes: { state: 'error', since: 1, code: 'rbac_forbidden', reason } },
        {
          kubernetesError: new Error(reason),
          resources: [{ resource: 'endpointslices', state: 'error', reason }],
        },
      ),
    );
    expect(findings).toEqual([
      { subject: 'kubernetes endpointslices', verdict: 'fail', code: 'kubernetes_error', reason },
    ]);
  });
});

describe('formatClusterState', () => {
  it('prints a row per member and the facts', () => {
    const text = formatClusterState(
      stateOf([pod(ip(1)), pod(ip(2))], [side(n(1), []), side(n(2), [])]),
    );
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^NODE\s+POD\s+IP\s+READY\s+CONNECTION/);
    expect(lines[1]).toContain(n(1));
    expect(text).toContain(`partitions: 2 — [${n(1)}] | [${n(2)}]`);
    expect(text).toContain(`unclustered: myapp-abc-2 (not_connected_to_peers)`);
  });
});
