import { describe, expect, it } from 'vitest';

import type { BeamConnection } from '@/lib/cluster-state';
import type { KubernetesCode } from '@/lib/codes';
import {
  connectionFix,
  kubernetesFix,
  memberFinding,
  unclusteredAdvice,
  unclusteredFix,
} from '@/lib/diagnosis';

import { fullMesh, ip, n, pod, side, stateOf } from './fixtures';

/** A lone pod whose node beamscope cannot reach, failing with `connection`. */
function loneFailing(connection: BeamConnection) {
  const state = stateOf([pod(ip(1))], [side(n(1), null, { connection })]);
  return { state, entry: state.unclustered[0] };
}

describe('unclustered reasons come from codes, never from wording', () => {
  it('a node on OTP 22 or older has its own reason and fix', () => {
    const { state, entry } = loneFailing({
      status: 'unreachable',
      since: 1,
      code: 'otp_too_old',
      reason: 'the node answered with the handshake of OTP 22 or older',
    });
    expect(entry?.reason).toBe('otp_too_old');
    expect(entry?.detail).toBe(`${n(1)} runs OTP older than 23 — beamscope needs 23 or newer`);
    expect(memberFinding(state.members[0]!, state).reason).toContain('Upgrade the release');
  });

  it('a node answering under another name is a name mismatch by its code', () => {
    const { entry } = loneFailing({
      status: 'unreachable',
      since: 1,
      code: 'node_name_mismatch',
      reason: `expected node ${n(1)} but myapp@other answered`,
    });
    expect(entry?.reason).toBe('name_mismatch');
  });

  it('a protocol error is not a name mismatch, whatever its message says', () => {
    const { entry } = loneFailing({
      status: 'unreachable',
      since: 1,
      code: 'protocol',
      reason: 'the node answered something else',
    });
    expect(entry?.reason).toBe('unreachable');
  });
});

describe('fixes', () => {
  it('names the configuration when the caller knows it, and speaks generally when not', () => {
    expect(unclusteredFix('auth_failed', { cookieSource: 'the cookie file /c' })).toContain(
      'the cookie file /c',
    );
    expect(unclusteredFix('auth_failed')).toContain('distribution.cookieFile or cookieEnv');
    expect(unclusteredFix('unreachable', { distributionPort: 9100 })).toContain('port 9100');
    expect(unclusteredFix('unreachable')).toContain('EPMD (port 4369)');
    expect(unclusteredFix('name_mismatch', { namingMode: 'dns' })).toContain(
      'nodeNaming.mode (dns)',
    );
  });

  it('the doctor line is the detail, then the fix', () => {
    const { entry } = loneFailing({ status: 'auth_failed', since: 1, code: 'auth_failed' });
    expect(unclusteredAdvice(entry!)).toMatch(/^the node refused the cookie: .+\. The cookie in /);
  });

  it('has a fix for the Kubernetes codes an operator can act on, and only those', () => {
    const codes: KubernetesCode[] = ['rbac_forbidden', 'unauthorized', 'unreachable'];
    for (const code of codes) expect(kubernetesFix(code), code).toMatch(/\w/);
    expect(kubernetesFix('sync_timeout')).toBeNull();
  });

  it('says what to do when another process holds our node name', () => {
    expect(connectionFix('name_in_use')).toContain('_maint_');
    expect(connectionFix('badrpc')).toBeNull();
  });
});

describe('memberFinding', () => {
  it('a member its peers see but beamscope cannot reach is a warning with the fix', () => {
    const sides = fullMesh([1, 2, 3]);
    sides[2] = side(n(3), null, {
      connection: { status: 'timeout', since: 1, code: 'timeout', reason: `${n(3)} timed out` },
    });
    const state = stateOf([pod(ip(1)), pod(ip(2)), pod(ip(3))], sides);
    const third = state.members.find((member) => member.node === n(3))!;
    expect(state.unclustered).toEqual([]);
    const finding = memberFinding(third, state, { distributionPort: 9100 });
    expect(finding).toMatchObject({ verdict: 'warn', code: 'connection_failed' });
    expect(finding.reason).toBe(
      `${n(3)} timed out. Check that the node listens on distribution port 9100 and that no NetworkPolicy blocks it`,
    );
  });

  it('a clustered member says how many peers it sees', () => {
    const state = stateOf([pod(ip(1)), pod(ip(2))], fullMesh([1, 2]));
    expect(memberFinding(state.members[0]!, state)).toMatchObject({
      verdict: 'ok',
      code: 'clustered',
      reason: 'clustered: connected to 1 of 1 peers, OTP 25',
    });
  });
});
