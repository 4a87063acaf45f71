import 'server-only';

import type {
  V1EndpointAddress,
  V1Endpoints,
  V1EndpointSlice,
  V1Pod,
} from '@kubernetes/client-node';

import type {
  ContainerTermination,
  DiscoveryMode,
  KubernetesMember,
  PodDisruption,
  MemberSource,
  NodeNamingMode,
} from '@/lib/members';

/** What node naming needs besides the member itself. */
export interface NamingContext {
  mode: NodeNamingMode;
  /** The part before the `@`, libcluster's `kubernetes_node_basename`. */
  basename: string;
  /** The namespace the pods run in (part of `dns` and `hostname` names). */
  namespace: string;
  /** The headless Service (`hostname` naming). */
  service?: string;
  /** The cluster's DNS domain; libcluster assumes `cluster.local`. */
  clusterDomain?: string;
}

/** The objects the informers hold; each derivation uses the ones its mode needs. */
export interface MemberInputs {
  endpointSlices?: readonly V1EndpointSlice[];
  endpoints?: readonly V1Endpoints[];
  /** Pods enrich endpoint-derived members (phase, restarts, start time); the source in `pods` mode. */
  pods?: readonly V1Pod[];
}

/**
 * The BEAM node name a member should carry, as libcluster's Kubernetes strategy builds it:
 * `ip` → `basename@10.0.0.5`; `dns` → `basename@10-0-0-5.NS.pod.cluster.local`;
 * `hostname` → `basename@HOST.SVC.NS.svc.cluster.local`. Null when `hostname` mode has no
 * hostname or no service to build from.
 */
export function beamNodeName(
  naming: NamingContext,
  member: { ip: string; hostname: string | null },
): string | null {
  const domain = naming.clusterDomain ?? 'cluster.local';
  switch (naming.mode) {
    case 'ip':
      return `${naming.basename}@${member.ip}`;
    case 'dns':
      // Kubernetes' pod A records replace the address separators with dashes (IPv6 too).
      return `${naming.basename}@${member.ip.replace(/[.:]/g, '-')}.${naming.namespace}.pod.${domain}`;
    case 'hostname':
      if (!member.hostname || !naming.service) return null;
      return `${naming.basename}@${member.hostname}.${naming.service}.${naming.namespace}.svc.${domain}`;
  }
}

/** ISO 8601 for a timestamp that arrives as a `Date` from a list (the client deserializes) or a string from a watch. */
export function toIsoTime(value: Date | string | undefined | null): string | null {
  if (value === undefined || value === null) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}

/** Pods indexed the two ways an endpoint can point at one. */
interface PodIndex {
  byName: Map<string, V1Pod>;
  byIp: Map<string, V1Pod>;
}

function indexPods(pods: readonly V1Pod[] | undefined): PodIndex {
  const byName = new Map<string, V1Pod>();
  const byIp = new Map<string, V1Pod>();
  const addIp = (ip: string | undefined, pod: V1Pod) => {
    if (ip && !byIp.has(ip)) byIp.set(ip, pod);
  };
  for (const pod of pods ?? []) {
    if (pod.metadata?.name) byName.set(pod.metadata.name, pod);
    addIp(pod.status?.podIP, pod);
    for (const entry of pod.status?.podIPs ?? []) addIp(entry.ip, pod);
  }
  return { byName, byIp };
}

/**
 * What one derivation hands the next, by object identity: the endpoint facts read from each
 * EndpointSlice (or, in `pods` mode, each pod) and the member built from each fact, its pod and
 * the naming. An informer replaces only the objects a watch event changed, so at 1,000 members a
 * readiness change reads one slice again and builds one member; the other 999 are the very
 * objects of the last list, which `shareUnchanged` then matches at a glance. Weak maps: an object
 * the informers let go of takes its entries with it. Endpoints mode reads its facts with the pods
 * (a terminating flag comes from them) and is derived whole each time.
 */
export class MemberMemo {
  readonly facts = new WeakMap<object, EndpointFacts[]>();
  readonly members = new WeakMap<
    EndpointFacts,
    { pod: V1Pod | undefined; naming: NamingContext; member: KubernetesMember }
  >();
}

/** `facts(object)`, or what it gave last time for this very object. */
function factsOf<T extends object>(
  object: T,
  memo: MemberMemo | undefined,
  facts: (object: T) => EndpointFacts[],
): EndpointFacts[] {
  const known = memo?.facts.get(object);
  if (known) return known;
  const fresh = facts(object);
  memo?.facts.set(object, fresh);
  return fresh;
}

function podReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some(
    (condition) => condition.type === 'Ready' && condition.status === 'True',
  );
}

function podRestarts(pod: V1Pod): number {
  return (pod.status?.containerStatuses ?? []).reduce(
    (sum, status) => sum + (status.restartCount ?? 0),
    0,
  );
}

/**
 * The pod's latest container termination, the latest by `finishedAt` across its containers: a
 * container stopped for good (`state.terminated`), or the run before a restart — also while the
 * restart waits out its back-off (`lastState.terminated`).
 */
export function latestTermination(pod: V1Pod): ContainerTermination | undefined {
  let latest: ContainerTermination | undefined;
  for (const status of pod.status?.containerStatuses ?? []) {
    for (const terminated of [status.state?.terminated, status.lastState?.terminated]) {
      if (!terminated) continue;
      const candidate: ContainerTermination = {
        container: status.name,
        reason: terminated.reason ?? null,
        exitCode: terminated.exitCode,
        signal: terminated.signal ?? null,
        finishedAt: toIsoTime(terminated.finishedAt),
      };
      if (!latest || (candidate.finishedAt ?? '') > (latest.finishedAt ?? '')) latest = candidate;
    }
  }
  return latest;
}

function isTerminating(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
}

/** A member before naming, built from an endpoint; the pod (if any) fills what it lacks. */
interface EndpointFacts {
  ip: string;
  podName: string | null;
  podUid: string | null;
  k8sNode: string | null;
  zone: string | null;
  hostname: string | null;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  source: MemberSource;
}

function complete(
  facts: EndpointFacts,
  pods: PodIndex,
  naming: NamingContext,
  memo?: MemberMemo,
): KubernetesMember {
  const pod =
    (facts.podName !== null ? pods.byName.get(facts.podName) : undefined) ??
    (facts.podName === null ? pods.byIp.get(facts.ip) : undefined);
  const known = memo?.members.get(facts);
  if (known && known.pod === pod && known.naming === naming) return known.member;
  const member = build(facts, pod, naming);
  memo?.members.set(facts, { pod, naming, member });
  return member;
}

function build(
  facts: EndpointFacts,
  pod: V1Pod | undefined,
  naming: NamingContext,
): KubernetesMember {
  const podName = facts.podName ?? pod?.metadata?.name ?? null;
  // libcluster falls back to the pod name when a pod has no explicit hostname.
  const hostname = facts.hostname ?? pod?.spec?.hostname ?? podName;
  return {
    ip: facts.ip,
    podName,
    podUid: facts.podUid ?? pod?.metadata?.uid ?? null,
    k8sNode: facts.k8sNode ?? pod?.spec?.nodeName ?? null,
    zone: facts.zone,
    hostname,
    ready: facts.ready,
    serving: facts.serving,
    terminating: facts.terminating,
    phase: pod?.status?.phase ?? null,
    restarts: pod ? podRestarts(pod) : null,
    startTime: toIsoTime(pod?.status?.startTime),
    beamNode: beamNodeName(naming, { ip: facts.ip, hostname }),
    source: facts.source,
    ...terminationOf(pod),
    ...disruptionOf(pod),
  };
}

/** The pod's DisruptionTarget condition, when it is set (status True). */
function disruptionOf(pod: V1Pod | undefined): { disruption?: PodDisruption } {
  const condition = pod?.status?.conditions?.find(
    (candidate) => candidate.type === 'DisruptionTarget' && candidate.status === 'True',
  );
  return condition
    ? { disruption: { reason: condition.reason ?? null, message: condition.message ?? null } }
    : {};
}

function terminationOf(pod: V1Pod | undefined): { lastTermination?: ContainerTermination } {
  const termination = pod ? latestTermination(pod) : undefined;
  return termination ? { lastTermination: termination } : {};
}

/** Orders IPv4 addresses numerically (127.0.0.10 after 127.0.0.9), anything else as text. */
function compareAddresses(a: string, b: string): number {
  const octets = (ip: string) =>
    /^\d+\.\d+\.\d+\.\d+$/.test(ip) ? ip.split('.').map(Number) : null;
  const left = octets(a);
  const right = octets(b);
  if (left && right) {
    for (let index = 0; index < 4; index += 1) {
      const difference = left[index]! - right[index]!;
      if (difference !== 0) return difference;
    }
    return 0;
  }
  if (left || right) return left ? -1 : 1;
  return a.localeCompare(b);
}

/** An IPv4 address as one number (its order), or null for anything else. */
function ipv4Order(ip: string): number | null {
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return null;
  const octets = ip.split('.').map(Number);
  // Past 255 the octets compare one by one (compareAddresses), not as one number.
  if (octets.some((octet) => octet > 255)) return null;
  return octets.reduce((value, octet) => value * 256 + octet, 0);
}

/** Each member's {@link ipv4Order}, read once: a member a memo hands on keeps its entry. */
const addressOrders = new WeakMap<KubernetesMember, number | null>();

function addressOrder(member: KubernetesMember): number | null {
  let order = addressOrders.get(member);
  if (order === undefined) {
    order = ipv4Order(member.ip);
    addressOrders.set(member, order);
  }
  return order;
}

function sortMembers(members: KubernetesMember[]): KubernetesMember[] {
  // Each address read once, not once per comparison: a list is sorted at every watch event.
  const keyed = members.map((member) => ({ member, order: addressOrder(member) }));
  keyed.sort(
    (a, b) =>
      (a.order !== null && b.order !== null
        ? a.order - b.order
        : compareAddresses(a.member.ip, b.member.ip)) ||
      (a.member.podName ?? '').localeCompare(b.member.podName ?? ''),
  );
  return keyed.map(({ member }) => member);
}

/**
 * Keeps one entry per address. The same address can sit in two slices (or two Endpoints
 * subsets) while the controller moves it; the ready entry wins, else the first seen.
 */
function dedupeByAddress(entries: EndpointFacts[]): EndpointFacts[] {
  const byIp = new Map<string, EndpointFacts>();
  for (const entry of entries) {
    const existing = byIp.get(entry.ip);
    if (!existing || (!existing.ready && entry.ready)) byIp.set(entry.ip, entry);
  }
  return [...byIp.values()];
}

function byName<T extends { metadata?: { name?: string } }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

/**
 * Members from every EndpointSlice of the Service, merged. Per the EndpointSlice API, missing
 * `ready`/`serving` mean true and missing `terminating` means false; a slice may have no
 * `endpoints` at all. FQDN slices name no pod and are skipped; on a dual-stack Service the
 * IPv4 slices win so each pod is listed once.
 */
export function membersFromEndpointSlices(
  slices: readonly V1EndpointSlice[],
  pods: readonly V1Pod[] | undefined,
  naming: NamingContext,
  memo?: MemberMemo,
): KubernetesMember[] {
  const ipSlices = slices.filter((slice) => slice.addressType !== 'FQDN');
  const hasIpv4 = ipSlices.some((slice) => slice.addressType === 'IPv4');
  const chosen = hasIpv4 ? ipSlices.filter((slice) => slice.addressType === 'IPv4') : ipSlices;
  const entries: EndpointFacts[] = [];
  for (const slice of byName(chosen)) entries.push(...factsOf(slice, memo, sliceFacts));
  const index = indexPods(pods);
  return sortMembers(dedupeByAddress(entries).map((facts) => complete(facts, index, naming, memo)));
}

function sliceFacts(slice: V1EndpointSlice): EndpointFacts[] {
  const source: MemberSource = { kind: 'EndpointSlice', name: slice.metadata?.name ?? '' };
  const entries: EndpointFacts[] = [];
  for (const endpoint of slice.endpoints ?? []) {
    const ip = endpoint.addresses?.[0];
    if (!ip) continue;
    const conditions = endpoint.conditions ?? {};
    const podRef = endpoint.targetRef?.kind === 'Pod' ? endpoint.targetRef : undefined;
    entries.push({
      ip,
      podName: podRef?.name ?? null,
      podUid: podRef?.uid ?? null,
      k8sNode: endpoint.nodeName ?? null,
      zone: endpoint.zone ?? null,
      hostname: endpoint.hostname ?? null,
      ready: conditions.ready ?? true,
      serving: conditions.serving ?? true,
      terminating: conditions.terminating ?? false,
      source,
    });
  }
  return entries;
}

/** Set by the Endpoints controller on an object over its 1,000 addresses (`v1.EndpointsOverCapacity`). */
const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';

/**
 * Members from Endpoints objects: `subsets[].addresses` are ready, `notReadyAddresses` are not
 * (libcluster's `:endpoints` mode reads only the former; beamscope shows both). Endpoints carry
 * no terminating flag, so it comes from the pod's deletion timestamp when the pod is known.
 */
export function membersFromEndpoints(
  endpointsList: readonly V1Endpoints[],
  pods: readonly V1Pod[] | undefined,
  naming: NamingContext,
): KubernetesMember[] {
  const index = indexPods(pods);
  const entries: EndpointFacts[] = [];
  const add = (address: V1EndpointAddress, ready: boolean, source: MemberSource) => {
    if (!address.ip) return;
    const podRef = address.targetRef?.kind === 'Pod' ? address.targetRef : undefined;
    const pod = podRef?.name ? index.byName.get(podRef.name) : index.byIp.get(address.ip);
    const terminating = pod ? isTerminating(pod) : false;
    entries.push({
      ip: address.ip,
      podName: podRef?.name ?? null,
      podUid: podRef?.uid ?? null,
      k8sNode: address.nodeName ?? null,
      zone: null,
      hostname: address.hostname ?? null,
      ready: ready && !terminating,
      serving: ready,
      terminating,
      source,
    });
  };
  for (const endpoints of byName(endpointsList)) {
    const overCapacity = endpoints.metadata?.annotations?.[OVER_CAPACITY_ANNOTATION];
    const source: MemberSource = {
      kind: 'Endpoints',
      name: endpoints.metadata?.name ?? '',
      ...(overCapacity ? { overCapacity } : {}),
    };
    for (const subset of endpoints.subsets ?? []) {
      for (const address of subset.addresses ?? []) add(address, true, source);
      for (const address of subset.notReadyAddresses ?? []) add(address, false, source);
    }
  }
  return sortMembers(dedupeByAddress(entries).map((facts) => complete(facts, index, naming)));
}

/**
 * Members from Pods, as libcluster's `:pods` mode: every pod that has an IP. Readiness follows
 * the EndpointSlice controller: serving = the Ready condition, ready = serving and not
 * terminating.
 */
export function membersFromPods(
  pods: readonly V1Pod[],
  naming: NamingContext,
  memo?: MemberMemo,
): KubernetesMember[] {
  const entries: EndpointFacts[] = [];
  for (const pod of byName(pods)) entries.push(...factsOf(pod, memo, podFacts));
  const index = indexPods(pods);
  return sortMembers(dedupeByAddress(entries).map((facts) => complete(facts, index, naming, memo)));
}

/** A pod's one fact (none without an IP yet). */
function podFacts(pod: V1Pod): EndpointFacts[] {
  const ip = pod.status?.podIP;
  if (!ip) return [];
  const serving = podReady(pod);
  const terminating = isTerminating(pod);
  return [
    {
      ip,
      podName: pod.metadata?.name ?? null,
      podUid: pod.metadata?.uid ?? null,
      k8sNode: pod.spec?.nodeName ?? null,
      zone: null,
      hostname: pod.spec?.hostname ?? null,
      ready: serving && !terminating,
      serving,
      terminating,
      source: { kind: 'Pod', name: pod.metadata?.name ?? '' },
    },
  ];
}

/**
 * The members for a discovery mode, from whatever the informers hold. With a memo, what the
 * objects that did not change gave last time is taken as it was (see {@link MemberMemo}).
 */
export function deriveMembers(
  mode: DiscoveryMode,
  inputs: MemberInputs,
  naming: NamingContext,
  memo?: MemberMemo,
): KubernetesMember[] {
  switch (mode) {
    case 'endpointSlices':
      return membersFromEndpointSlices(inputs.endpointSlices ?? [], inputs.pods, naming, memo);
    case 'endpoints':
      return membersFromEndpoints(inputs.endpoints ?? [], inputs.pods, naming);
    case 'pods':
      return membersFromPods(inputs.pods ?? [], naming, memo);
  }
}

/** Structural equality of two JSON-like values (key order does not matter; undefined = absent). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, index) => sameValue(item, b[index]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  let count = 0;
  for (const key in left) {
    if (left[key] === undefined) continue;
    count += 1;
    if (!sameValue(left[key], right[key])) return false;
  }
  for (const key in right) if (right[key] !== undefined) count -= 1;
  return count === 0;
}

/**
 * `next` with each member equal to one of `previous` (matched by IP) replaced by that very
 * object, or null when the lists say the same thing. A pod's readiness toggle at 1,000 members
 * then hands on one new object and 999 old ones: whoever holds the last list (the collector)
 * finds what changed by identity, and nothing serialises either list to compare them.
 */
export function shareUnchanged(
  next: readonly KubernetesMember[],
  previous: readonly KubernetesMember[],
): KubernetesMember[] | null {
  const byIp = new Map<string, KubernetesMember>();
  for (const member of previous) if (!byIp.has(member.ip)) byIp.set(member.ip, member);
  let same = next.length === previous.length;
  const shared = next.map((member, index) => {
    // In place first (the lists are sorted alike), else wherever that IP was.
    const inPlace = previous[index];
    if (inPlace && sameValue(inPlace, member)) return inPlace;
    same = false;
    const old = byIp.get(member.ip);
    return old && sameValue(old, member) ? old : member;
  });
  return same ? null : shared;
}

/** True when two member lists say the same thing (both are sorted by derivation). */
export function sameMembers(
  a: readonly KubernetesMember[],
  b: readonly KubernetesMember[],
): boolean {
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}
