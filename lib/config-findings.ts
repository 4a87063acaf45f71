/**
 * The doctor's findings on the configuration, read together with what the cluster answers: EPMD's
 * port taken for the distribution port (or the other way round), and a Service too large for its
 * Endpoints object. Pure.
 */
import type { ClusterState } from './cluster-state';
import type { BeamConnectionCode } from './codes';
import type { DiagnosisContext, Finding } from './diagnosis';

/** The Endpoints object holds at most this many addresses; the rest are cut. */
export const ENDPOINTS_CAPACITY = 1000;

/**
 * What the configuration and the connection failures together point at: EPMD's port taken for
 * the distribution port (or the other way round), and a Service too large for Endpoints.
 */
export function configFindings(state: ClusterState, context: DiagnosisContext = {}): Finding[] {
  const findings: Finding[] = [];
  if (context.distributionPort === 4369) {
    findings.push({
      subject: 'configuration',
      verdict: 'fail',
      code: 'epmd_port_confusion',
      reason:
        "distribution.port is 4369, EPMD's port, not a distribution port: give the port the nodes listen on (-erl_epmd_port / inet_dist_listen_min), or leave it out to ask EPMD",
    });
  }
  const codes = state.members
    .map((member) => member.beam?.connection)
    .filter((connection) => connection && connection.status !== 'connected')
    .map((connection) => connection!.code);
  const connected = state.members.some((m) => m.beam?.connection.status === 'connected');
  const all = (code: BeamConnectionCode) =>
    !connected && codes.length > 0 && codes.every((entry) => entry === code);
  if (context.distributionPort === undefined && all('epmd_unreachable')) {
    findings.push({
      subject: 'configuration',
      verdict: 'fail',
      code: 'epmd_port_confusion',
      reason:
        'no node answers on EPMD (port 4369): releases that run without EPMD (-start_epmd false, a fixed -erl_epmd_port) need distribution.port set to the port they listen on',
    });
  } else if (context.distributionPort === undefined && all('node_not_registered')) {
    findings.push({
      subject: 'configuration',
      verdict: 'fail',
      code: 'epmd_port_confusion',
      reason:
        'EPMD answers on every pod but knows none of the nodes: they may listen on a fixed port without registering (set distribution.port), or run under other names (nodeNaming)',
    });
  }
  // Per Endpoints object: how many addresses it lists, and what its controller says of its size.
  const listed = new Map<string, { count: number; overCapacity: string | undefined }>();
  for (const member of state.members) {
    const source = member.kubernetes?.source;
    if (source?.kind !== 'Endpoints') continue;
    const entry = listed.get(source.name) ?? { count: 0, overCapacity: undefined };
    entry.count += 1;
    entry.overCapacity ??= source.overCapacity;
    listed.set(source.name, entry);
  }
  const useSlices =
    'Use EndpointSlices (discovery.mode endpointSlices; libcluster: a strategy that reads slices or :pods mode)';
  for (const [name, { count, overCapacity }] of listed) {
    if (overCapacity === 'truncated') {
      // The controller's own word: the object was cut, whatever number of addresses is left.
      findings.push({
        subject: `endpoints ${name}`,
        verdict: 'fail',
        code: 'endpoints_truncated',
        reason: `the Endpoints controller truncated this object (annotation endpoints.kubernetes.io/over-capacity: truncated): it lists ${count} addresses, Kubernetes keeps at most ${ENDPOINTS_CAPACITY}, so beamscope and libcluster's default :endpoints strategy silently miss the other pods. ${useSlices}`,
      });
    } else if (overCapacity !== undefined) {
      findings.push({
        subject: `endpoints ${name}`,
        verdict: 'warn',
        code: 'endpoints_truncated',
        reason: `the Endpoints controller marks this object over capacity (annotation endpoints.kubernetes.io/over-capacity: ${overCapacity}): past ${ENDPOINTS_CAPACITY} addresses newer Kubernetes versions cut it. ${useSlices}`,
      });
    } else if (count >= ENDPOINTS_CAPACITY) {
      // No annotation (an older controller, or one that does not set it): the count says it.
      findings.push({
        subject: `endpoints ${name}`,
        verdict: 'fail',
        code: 'endpoints_truncated',
        reason: `the Endpoints object lists ${count} addresses, its limit: Kubernetes cuts it at ${ENDPOINTS_CAPACITY} (annotation endpoints.kubernetes.io/over-capacity), so beamscope and libcluster's default :endpoints strategy silently miss the other ready pods. ${useSlices}`,
      });
    }
  }
  const ready = state.members.filter((member) => member.kubernetes?.ready).length;
  if (context.discoveryMode !== 'endpoints' && ready > ENDPOINTS_CAPACITY) {
    findings.push({
      subject: `cluster${context.clusterId ? ` ${context.clusterId}` : ''}`,
      verdict: 'warn',
      code: 'endpoints_truncated',
      reason: `${ready} ready pods: the Service's Endpoints object holds only ${ENDPOINTS_CAPACITY}, so a libcluster Kubernetes strategy in its default :endpoints mode silently misses the rest. Use :pods mode or a strategy that reads EndpointSlices`,
    });
  }
  return findings;
}
