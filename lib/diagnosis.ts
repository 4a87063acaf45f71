/**
 * One vocabulary for "what is wrong, and what to do": why a ready pod is outside the mesh, the
 * verdict on one member, the mesh's problems, and the fix for each code. `beamscope doctor`, the
 * node drawer, the dashboard's problem banners and the unclustered list all take their words from
 * here, and every decision switches on a code, never on a message's wording. Pure.
 */
import type {
  ClusterMember,
  ClusterState,
  DistributionStatus,
  UnclusteredMember,
  UnclusteredReason,
} from './cluster-state';
import { codeSkewFindings } from './code-skew-findings';
import type { BeamConnectionCode, DistributionCode, KubernetesCode } from './codes';
import { hotLinks, linkTraffic } from './links';
import type { DiscoveryMode, NodeNamingMode } from './members';
import { hostOf, namedFew } from './names';

/** How bad a finding is: `fail` makes `beamscope doctor` exit non-zero. */
export type Verdict = 'ok' | 'warn' | 'fail';

/** The kinds of finding, one code each, for scripts (`beamscope doctor --json`). */
export type FindingCode =
  | UnclusteredReason
  | 'clustered'
  | 'ghost'
  | 'terminating'
  | 'not_ready'
  | 'connection_failed'
  | 'no_members'
  | 'kubernetes_error'
  | DistributionCode
  | 'partitioned'
  | 'asymmetric_link'
  | 'otp_skew'
  | 'registry_disagreement'
  | 'tick_mismatch'
  | 'otp_incompatible'
  | 'busy_link'
  | 'epmd_port_confusion'
  | 'endpoints_truncated'
  | 'code_skew'
  | 'application_skew'
  | 'incomplete';

/** One line of a diagnosis: what it is about, the verdict, and what to do. */
export interface Finding {
  subject: string;
  verdict: Verdict;
  code: FindingCode;
  reason: string;
}

/**
 * What a fix can name about the cluster's configuration. The command line knows it all; the
 * browser knows none of it, and its fixes say the same in general terms.
 */
export interface DiagnosisContext {
  /** Where the cookie comes from, e.g. `the cookie file /run/secrets/cookie`. */
  cookieSource?: string;
  namingMode?: NodeNamingMode;
  basename?: string;
  /** The fixed distribution port of epmd-less clusters. */
  distributionPort?: number;
  clusterId?: string;
  /** How beamscope lists the members (`endpoints` is cut at 1,000 addresses). */
  discoveryMode?: DiscoveryMode;
}

// ----- why a ready pod is outside the main component ------------------------------------------

/** A node that stands where the member's pod is (its IP or hostname) under another name. */
function impostorFor(member: ClusterMember, node: string, ghosts: readonly string[]) {
  const pod = member.kubernetes;
  const hosts = new Set([pod?.ip, pod?.hostname].filter((host): host is string => !!host));
  return ghosts.find((ghost) => ghost !== node && hosts.has(hostOf(ghost)));
}

/** The connection codes that mean "no node of the expected name is there". */
const NAME_MISMATCH_CODES: ReadonlySet<BeamConnectionCode> = new Set([
  'node_not_registered',
  'node_name_mismatch',
]);

/**
 * Why a ready pod's node is not in the main component, or null when it is (or the pod is not
 * ready, which is a Kubernetes matter shown as such).
 */
export function unclusteredOf(
  member: ClusterMember,
  main: ReadonlySet<string>,
  ghosts: readonly string[],
  distribution: DistributionStatus,
): UnclusteredMember | null {
  const pod = member.kubernetes;
  if (!pod || !pod.ready) return null;
  if (member.node !== null && main.has(member.node)) return null;
  const base = { key: member.key, node: member.node, podName: pod.podName, ip: pod.ip };
  const entry = (reason: UnclusteredReason, detail: string): UnclusteredMember => ({
    ...base,
    reason,
    detail,
  });
  if (member.node === null) {
    return entry(
      'name_mismatch',
      `no node name can be derived for pod ${pod.podName ?? pod.ip} with the configured naming mode`,
    );
  }
  const impostor = impostorFor(member, member.node, ghosts);
  const connection = member.beam?.connection;
  if (impostor && connection?.status !== 'connected') {
    return entry(
      'name_mismatch',
      `the node calls itself ${impostor} but the naming mode expects ${member.node}`,
    );
  }
  if (!connection || connection.status === 'untracked') {
    return entry(
      'unreachable',
      distribution.state === 'error'
        ? distribution.reason
        : `beamscope has not connected to ${member.node}`,
    );
  }
  if (connection.status === 'auth_failed') {
    return entry('auth_failed', connection.reason ?? `node ${member.node} refused the cookie`);
  }
  if (connection.code !== undefined && NAME_MISMATCH_CODES.has(connection.code)) {
    return entry('name_mismatch', connection.reason ?? `no node named ${member.node} at ${pod.ip}`);
  }
  if (connection.code === 'otp_too_old') {
    return entry(
      'otp_too_old',
      `${member.node} runs OTP older than 23 — beamscope needs 23 or newer`,
    );
  }
  if (connection.status === 'connected') {
    const sees = member.beam?.sees;
    let detail: string;
    if (sees === null || sees === undefined) detail = `${member.node} has not been probed yet`;
    else if (sees.length === 0)
      detail = `the pod is ready but ${member.node} sees none of its peers`;
    else
      detail = `${member.node} is connected to ${sees.length} node(s) outside the main component: ${namedFew(sees)}`;
    return entry('not_connected_to_peers', detail);
  }
  return entry(
    'unreachable',
    connection.reason ??
      (connection.status === 'connecting'
        ? `connecting to ${member.node}…`
        : `${member.node} is ${connection.status}`),
  );
}

// ----- what to do ------------------------------------------------------------------------------

function cookieSourceOf(context: DiagnosisContext): string {
  return context.cookieSource ?? "beamscope's cookie (distribution.cookieFile or cookieEnv)";
}

function reachabilityFix(context: DiagnosisContext): string {
  return context.distributionPort !== undefined
    ? `Check that the node listens on distribution port ${context.distributionPort} and that no NetworkPolicy blocks it`
    : 'Check that EPMD (port 4369) and the distribution port are reachable from beamscope';
}

/** What to do about a ready pod outside the main component, by its reason. */
export function unclusteredFix(reason: UnclusteredReason, context: DiagnosisContext = {}): string {
  switch (reason) {
    case 'auth_failed':
      return `The cookie in ${cookieSourceOf(context)} does not match the one this pod runs with (RELEASE_COOKIE / the mounted Secret)`;
    case 'name_mismatch':
      return `Make nodeNaming.mode${context.namingMode ? ` (${context.namingMode})` : ''} match how the release names its node (RELEASE_NODE / -name)`;
    case 'otp_too_old':
      return 'Upgrade the release to OTP 23 or newer: older releases speak a handshake beamscope does not';
    case 'not_connected_to_peers':
      return 'Check the clustering strategy (libcluster) on this pod and that its peers can reach it';
    case 'unreachable':
      return reachabilityFix(context);
  }
}

/** The doctor's line for an unclustered member: what is wrong, then what to do. */
export function unclusteredAdvice(
  entry: UnclusteredMember,
  context: DiagnosisContext = {},
): string {
  const fix = unclusteredFix(entry.reason, context);
  return entry.reason === 'auth_failed'
    ? `the node refused the cookie: ${entry.detail}. ${fix}`
    : `${entry.detail}. ${fix}`;
}

/** What to do about a Kubernetes link error, by its code; null when the message says it all. */
export function kubernetesFix(code: KubernetesCode): string | null {
  switch (code) {
    case 'rbac_forbidden':
      return 'Grant the service account get, list and watch on the resource named above (a Role and RoleBinding in the namespace), e.g. from deploy/.';
    case 'unauthorized':
      return 'The token or client certificate was refused: check the kubeconfig (or the mounted service-account token) the configuration points to.';
    case 'unreachable':
      return 'Check the API server address in the kubeconfig and that this server can reach it (network policy, proxy, DNS).';
    default:
      return null;
  }
}

/** What to do when a cluster has no distribution side (its cookie cannot be read). */
export function distributionFix(_code: DistributionCode, context: DiagnosisContext = {}): string {
  return `Make the cookie readable — distribution.cookieFile or distribution.cookieEnv in the configuration${context.clusterId ? ` of cluster ${context.clusterId}` : ''} — then restart beamscope.`;
}

/** What to do when beamscope's own connection to a node fails, by its code. */
export function connectionFix(
  code: BeamConnectionCode | undefined,
  context: DiagnosisContext = {},
): string | null {
  switch (code) {
    case 'auth_failed':
      return unclusteredFix('auth_failed', context);
    case 'node_not_registered':
    case 'node_name_mismatch':
      return unclusteredFix('name_mismatch', context);
    case 'otp_too_old':
      return unclusteredFix('otp_too_old', context);
    case 'name_in_use':
      return 'Another beamscope on this host holds a connection under the same node name: give one of them its own (node.name, or --name), keeping _maint_ in it';
    case 'epmd_unreachable':
    case 'dist_unreachable':
    case 'timeout':
    case 'node_down':
      return reachabilityFix(context);
    default:
      return null;
  }
}

// ----- verdicts ---------------------------------------------------------------------------------

/** A member as a subject line: its pod (and node), or its node alone. */
export function memberSubject(member: ClusterMember): string {
  const pod = member.kubernetes;
  if (!pod) return `node ${member.node ?? member.key}`;
  return `pod ${pod.podName ?? pod.ip}${member.node ? ` (${member.node})` : ''}`;
}

/** The nodes of the main component, or none. */
function mainOf(state: Pick<ClusterState, 'mainPartition' | 'partitions'>): readonly string[] {
  return state.mainPartition === null ? [] : (state.partitions[state.mainPartition] ?? []);
}

/**
 * The verdict on one member: clustered, why not (with the fix), a ghost, a pod on its way in or
 * out, or a node beamscope cannot reach although its peers see it.
 */
export function memberFinding(
  member: ClusterMember,
  state: Pick<ClusterState, 'unclustered' | 'mainPartition' | 'partitions'>,
  context: DiagnosisContext = {},
): Finding {
  const subject = memberSubject(member);
  const problem = state.unclustered.find((entry) => entry.key === member.key);
  if (problem) {
    return {
      subject,
      verdict: 'fail',
      code: problem.reason,
      reason: unclusteredAdvice(problem, context),
    };
  }
  const pod = member.kubernetes;
  if (!pod) {
    const expected = context.namingMode
      ? ` (naming mode ${context.namingMode} expects ${context.basename ?? '<basename>'}@<pod ${context.namingMode === 'ip' ? 'IP' : 'name'}>)`
      : '';
    return {
      subject,
      verdict: 'warn',
      code: 'ghost',
      reason: `in the mesh but no pod Kubernetes lists accounts for it${expected}`,
    };
  }
  if (pod.terminating)
    return { subject, verdict: 'ok', code: 'terminating', reason: 'terminating' };
  const connection = member.beam?.connection;
  if (!pod.ready) {
    return {
      subject,
      verdict: 'warn',
      code: 'not_ready',
      reason: `the pod is not ready (phase ${pod.phase ?? 'unknown'})${connection && connection.status !== 'connected' && connection.reason ? `; its node: ${connection.reason}` : ''}`,
    };
  }
  if (connection && connection.status !== 'connected' && connection.status !== 'untracked') {
    // In the main component by its peers' reports, but beamscope itself cannot reach it.
    const fix = connectionFix(connection.code, context);
    return {
      subject,
      verdict: 'warn',
      code: 'connection_failed',
      reason: `${connection.reason ?? `beamscope is ${connection.status} to ${member.node}`}${fix ? `. ${fix}` : ''}`,
    };
  }
  const beam = member.beam;
  return {
    subject,
    verdict: 'ok',
    code: 'clustered',
    reason: `clustered: connected to ${beam?.sees?.length ?? 0} of ${Math.max(mainOf(state).length - 1, 0)} peers${beam?.otpRelease ? `, OTP ${beam.otpRelease}` : ''}`,
  };
}

/** The mesh's own problems: a split, one-sided links, mixed OTP releases, disagreeing registries. */
export function meshFindings(state: ClusterState): Finding[] {
  const findings: Finding[] = [];
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
  findings.push(...codeSkewFindings(state));
  return findings;
}

/** The OTP releases in use more than two apart: distribution is compatible across about two. */
function otpTooFarApart(state: ClusterState): Finding | null {
  const releases = (state.otpSkew?.releases ?? [])
    .map((release) => ({ ...release, major: Number.parseInt(release.otpRelease, 10) }))
    .filter((release) => Number.isFinite(release.major))
    .sort((x, y) => x.major - y.major);
  const oldest = releases[0];
  const newest = releases.at(-1);
  if (!oldest || !newest || newest.major - oldest.major <= 2) return null;
  return {
    subject: 'mesh',
    verdict: 'fail',
    code: 'otp_incompatible',
    reason: `OTP ${oldest.major} (${namedFew(oldest.nodes)}) and OTP ${newest.major} (${namedFew(newest.nodes)}) are ${newest.major - oldest.major} releases apart: distribution is only compatible across two. Upgrade the oldest nodes first, one release at a time`,
  };
}

/** The links' health: `net_ticktime` agreement, OTP distance, busy distribution links. */
export function linkFindings(state: ClusterState): Finding[] {
  const findings: Finding[] = [];
  if (state.tickSkew) {
    const [usual, ...others] = state.tickSkew.values;
    findings.push({
      subject: 'mesh',
      verdict: 'warn',
      code: 'tick_mismatch',
      reason: `nodes disagree on net_ticktime: ${state.tickSkew.values.map((value) => `${value.seconds} s on ${namedFew(value.nodes)}`).join('; ')}. A node with a shorter one declares a quiet peer down sooner; set the same -kernel net_ticktime ${usual!.seconds} on ${namedFew(others.flatMap((value) => value.nodes))}`,
    });
  }
  const distance = otpTooFarApart(state);
  if (distance) findings.push(distance);
  for (const link of hotLinks(linkTraffic(state.members), 20).filter((entry) => entry.busy)) {
    findings.push({
      subject: `link ${link.a} – ${link.b}`,
      verdict: 'warn',
      code: 'busy_link',
      reason: `the distribution buffer is full at ${namedFew(link.busyAt)} (${link.queueBytes ?? 0} bytes queued): messages wait, and a large one can hold back the ticks until a live node is declared down. Look for large messages or a slow receiver`,
    });
  }
  return findings;
}

/** A reason code as words: `not_connected_to_peers` → `not connected to peers`. */
export function codeLabel(code: string): string {
  return code.replace(/_/g, ' ');
}
