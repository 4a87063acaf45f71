import 'server-only';

import type { ClusterMember, UnclusteredMember } from '@/lib/cluster-state';

import type { ClusterConfig } from '../../config';
import { integerOption, parseCommandArgs } from '../args';
import type { Command } from '../command';
import { collectOnce, type CollectedCluster } from './collect';

const USAGE = 'beamscope doctor [--config FILE] [--cluster ID] [--json] [--timeout SECONDS]';

/** How bad one finding is: `fail` makes the command exit non-zero. */
export type Verdict = 'ok' | 'warn' | 'fail';

/** One line of the diagnosis: what it is about, the verdict, and what to do. */
export interface Finding {
  subject: string;
  verdict: Verdict;
  reason: string;
  /** A code for scripts: `clustered`, `auth_failed`, `rbac_forbidden`, `partitioned`, … */
  code: string;
}

function cookieSource(cluster: ClusterConfig): string {
  const { cookieFile, cookieEnv } = cluster.distribution;
  return cookieFile !== undefined
    ? `the cookie file ${cookieFile}`
    : `the environment variable ${cookieEnv ?? '?'}`;
}

function advice(entry: UnclusteredMember, cluster: ClusterConfig): string {
  switch (entry.reason) {
    case 'auth_failed':
      return `the node refused the cookie: ${entry.detail}. The cookie in ${cookieSource(cluster)} does not match the one this pod runs with (RELEASE_COOKIE / the mounted Secret)`;
    case 'name_mismatch':
      return `${entry.detail}. Make nodeNaming.mode (${cluster.nodeNaming.mode}) match how the release names its node (RELEASE_NODE / -name)`;
    case 'not_connected_to_peers':
      return `${entry.detail}. Check the clustering strategy (libcluster) on this pod and that its peers can reach it`;
    case 'unreachable':
      return `${entry.detail}. ${
        cluster.distribution.port !== undefined
          ? `Check that the node listens on distribution port ${cluster.distribution.port} and that no NetworkPolicy blocks it`
          : 'Check that EPMD (port 4369) and the distribution port are reachable from beamscope'
      }`;
  }
}

function memberSubject(member: ClusterMember): string {
  const pod = member.kubernetes;
  if (!pod) return `node ${member.node ?? member.key}`;
  return `pod ${pod.podName ?? pod.ip}${member.node ? ` (${member.node})` : ''}`;
}

/**
 * The diagnosis of a collected cluster: the Kubernetes link (with the RBAC rule to grant), the
 * distribution side, one verdict per member, then the mesh as a whole.
 */
export function diagnose(collected: CollectedCluster): Finding[] {
  const { state, cluster } = collected;
  const findings: Finding[] = [];
  if (collected.kubernetesError || state.kubernetes.state === 'error') {
    const failed = collected.resources.filter((resource) => resource.state === 'error');
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

  const unclustered = new Map(state.unclustered.map((entry) => [entry.key, entry]));
  const main = state.mainPartition === null ? [] : (state.partitions[state.mainPartition] ?? []);
  for (const member of state.members) {
    const subject = memberSubject(member);
    const problem = unclustered.get(member.key);
    if (problem) {
      findings.push({
        subject,
        verdict: 'fail',
        code: problem.reason,
        reason: advice(problem, cluster),
      });
      continue;
    }
    const pod = member.kubernetes;
    if (!pod) {
      findings.push({
        subject,
        verdict: 'warn',
        code: 'ghost',
        reason: `in the mesh but no pod Kubernetes lists accounts for it (naming mode ${cluster.nodeNaming.mode} expects ${cluster.nodeNaming.basename}@<pod ${cluster.nodeNaming.mode === 'ip' ? 'IP' : 'name'}>)`,
      });
      continue;
    }
    if (pod.terminating) {
      findings.push({ subject, verdict: 'ok', code: 'terminating', reason: 'terminating' });
      continue;
    }
    if (!pod.ready) {
      const connection = member.beam?.connection;
      findings.push({
        subject,
        verdict: 'warn',
        code: 'not_ready',
        reason: `the pod is not ready (phase ${pod.phase ?? 'unknown'})${connection && connection.status !== 'connected' && connection.reason ? `; its node: ${connection.reason}` : ''}`,
      });
      continue;
    }
    const beam = member.beam;
    findings.push({
      subject,
      verdict: 'ok',
      code: 'clustered',
      reason: `clustered: connected to ${beam?.sees?.length ?? 0} of ${Math.max(main.length - 1, 0)} peers${beam?.otpRelease ? `, OTP ${beam.otpRelease}` : ''}`,
    });
  }

  if (state.partitions.length > 1) {
    findings.push({
      subject: 'mesh',
      verdict: 'fail',
      code: 'partitioned',
      reason: `the mesh is split into ${state.partitions.length} partitions: ${state.partitions.map((partition) => `[${partition.join(', ')}]`).join(' | ')}`,
    });
  }
  for (const link of state.asymmetricLinks) {
    findings.push({
      subject: 'mesh',
      verdict: 'warn',
      code: 'asymmetric_link',
      reason: `${link.from} lists ${link.to} among its nodes but ${link.to} does not list ${link.from}`,
    });
  }
  if (state.otpSkew) {
    findings.push({
      subject: 'mesh',
      verdict: 'warn',
      code: 'otp_skew',
      reason: `nodes run different OTP releases: ${state.otpSkew.releases.map((release) => `OTP ${release.otpRelease} on ${release.nodes.join(', ')}`).join('; ')}`,
    });
  }
  for (const entry of state.registryDisagreements) {
    findings.push({
      subject: `registry ${entry.registry}`,
      verdict: 'warn',
      code: 'registry_disagreement',
      reason: `nodes of one partition disagree: ${entry.counts.map((count) => `${count.node}=${count.count}`).join(', ')}`,
    });
  }
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
