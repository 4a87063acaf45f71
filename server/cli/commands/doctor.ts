import 'server-only';

import { configFindings } from '@/lib/config-findings';
import {
  linkFindings,
  memberFinding,
  meshFindings,
  type DiagnosisContext,
  type Finding,
  type Verdict,
} from '@/lib/diagnosis';

import type { ClusterConfig } from '../../config';
import { integerOption, parseCommandArgs } from '../args';
import type { Command } from '../command';
import { collectOnce, type CollectedCluster } from './collect';

export type { Finding, Verdict } from '@/lib/diagnosis';

const USAGE = 'beamscope doctor [--config FILE] [--cluster ID] [--json] [--timeout SECONDS]';

/** What the fixes may name: where the cookie comes from, the naming mode, the port. */
function contextOf(cluster: ClusterConfig): DiagnosisContext {
  const { cookieFile, cookieEnv, port } = cluster.distribution;
  return {
    cookieSource:
      cookieFile !== undefined
        ? `the cookie file ${cookieFile}`
        : `the environment variable ${cookieEnv ?? '?'}`,
    namingMode: cluster.nodeNaming.mode,
    basename: cluster.nodeNaming.basename,
    ...(port !== undefined ? { distributionPort: port } : {}),
    clusterId: cluster.id,
    discoveryMode: cluster.discovery.mode,
  };
}

/**
 * The diagnosis of a collected cluster: the Kubernetes link (with the RBAC rule to grant), the
 * distribution side, one verdict per member, then the mesh as a whole. The words come from
 * `lib/diagnosis.ts`, as the dashboard's do.
 */
export function diagnose(collected: CollectedCluster): Finding[] {
  const { state, cluster } = collected;
  const findings: Finding[] = [];
  if (collected.kubernetesError || state.kubernetes.state === 'error') {
    // Every failing resource, in one order: collectOnce waited for each one's first outcome.
    const failed = collected.resources
      .filter((resource) => resource.state === 'error')
      .sort((a, b) => a.resource.localeCompare(b.resource));
    if (failed.length > 0) {
      for (const resource of failed) {
        findings.push({
          subject: `kubernetes ${resource.resource}`,
          verdict: 'fail',
          code: 'kubernetes_error',
          reason: resource.reason ?? 'the watch fails',
        });
      }
    } else {
      findings.push({
        subject: 'kubernetes',
        verdict: 'fail',
        code: 'kubernetes_error',
        reason:
          collected.kubernetesError?.message ??
          (state.kubernetes.state === 'error' ? state.kubernetes.reason : 'no complete list'),
      });
    }
  }
  if (state.distribution.state === 'error') {
    findings.push({
      subject: 'distribution',
      verdict: 'fail',
      code: state.distribution.code,
      reason: state.distribution.reason,
    });
  }
  if (state.members.length === 0 && !collected.kubernetesError) {
    findings.push({
      subject: `cluster ${cluster.id}`,
      verdict: 'warn',
      code: 'no_members',
      reason: `Kubernetes lists no members for ${cluster.discovery.mode} ${cluster.discovery.service ?? cluster.discovery.selector ?? ''}`,
    });
  }
  const context = contextOf(cluster);
  for (const member of state.members) findings.push(memberFinding(member, state, context));
  findings.push(...meshFindings(state), ...linkFindings(state), ...configFindings(state, context));
  if (!collected.settled) {
    findings.push({
      subject: 'doctor',
      verdict: 'warn',
      code: 'incomplete',
      reason: 'some nodes had not answered when the time ran out (raise --timeout)',
    });
  }
  return findings;
}

const MARK: Record<Verdict, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

/** The findings as lines: a verdict, the subject and the reason. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings
    .map((finding) => `${MARK[finding.verdict]}  ${finding.subject}: ${finding.reason}`)
    .join('\n');
}

/** Whether the findings call for a non-zero exit. */
export function anyFailure(findings: readonly Finding[]): boolean {
  return findings.some((finding) => finding.verdict === 'fail');
}

/** `beamscope doctor`: per member, a verdict and the reason an operator can act on. */
export const doctorCommand: Command = {
  name: 'doctor',
  summary: "Explain why a cluster's nodes are not clustered (exit 1 when something is wrong)",
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseCommandArgs(argv, {
      config: { type: 'string' },
      cluster: { type: 'string' },
      json: { type: 'boolean' },
      timeout: { type: 'string' },
    });
    const timeoutSeconds = integerOption('timeout', values.timeout, 10, 1);
    const collected = await collectOnce(values, timeoutSeconds * 1000);
    const findings = diagnose(collected);
    if (values.json) io.stdout(`${JSON.stringify({ findings }, null, 2)}\n`);
    else io.stdout(`${formatFindings(findings)}\n`);
    return anyFailure(findings) ? 1 : 0;
  },
};
