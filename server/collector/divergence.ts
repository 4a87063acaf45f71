import 'server-only';

import { TokenBucket } from 'limiter';

// Comparing the copies of a replicated registry within a partition: which names some copies hold
// and others do not, and which resolve to different processes on different copies (what a
// netsplit leaves behind). Bounded: each copy is first reduced to a count per hosting node (from
// one reply listing its rows' hosts, or counted on the node for a large copy); names travel only
// for the hosts whose counts differ between copies.

import type {
  ClusterState,
  RegistryDivergence,
  RegistryNameView,
  TimelineEventDraft,
} from '@/lib/cluster-state';
import type { RegistryComparison } from '@/lib/api-registries';
import { formatCount } from '@/lib/format';
import { registryKeyParts, registryLabel, registryUnit } from '@/lib/registries';

import { formatTerm } from '../erlang/codec';
import { atom, Pid, type Atom, type Term } from '../erlang/codec/terms';
import {
  callProbe,
  existingAtom,
  keysOnHostProbe,
  registryAtomName,
  rowHostsProbe,
  rowPidsProbe,
  rowsOnHostProbe,
  tableSizeProbe,
  type ProbeCall,
  type RowLayout,
  type RpcFunction,
} from '../erlang/probes';
import { forEachBounded, mapBounded } from './bounded';

/** Where a replicated registry's copy lives on each node and how its rows hold key and pid. */
export interface RegistryTable {
  table: string;
  layout: RowLayout;
}

/** The table behind a registry key, for the backends whose copies hold one row per name. */
export function registryTable(registry: string): RegistryTable | null {
  const { backend, name } = registryKeyParts(registry);
  switch (backend) {
    case 'swarm':
      // {entry, Name, Pid, Ref, Meta, Clock}
      return { table: 'swarm_registry', layout: { key: 2, pid: [3] } };
    case 'global':
      // {Name, Pid, Method, Ref}
      return { table: 'global_names', layout: { key: 1, pid: [2] } };
    case 'horde':
      // {Key, {Registry, Node}, {Pid, Value}}
      return name
        ? { table: `keys_${registryAtomName(name)}`, layout: { key: 1, pid: [3, 1] } }
        : null;
    case 'syn':
      // {Name, Pid, Meta, Time, MRef, Node}
      return name ? { table: `syn_registry_by_name_${name}`, layout: { key: 1, pid: [2] } } : null;
    default:
      return null;
  }
}

/**
 * What one comparison of a partition's copies found, and what it cost: the API's
 * {@link RegistryComparison} before the route adds which partition it was and how long it took.
 */
export type CopyComparison = Omit<RegistryComparison, 'partition' | 'durationMs'>;

export interface CompareOptions {
  timeoutMs: number;
  /** How many names of each kind to show with their processes. */
  sampleSize?: number;
  /** Calls of this comparison in flight at once; default {@link COMPARE_CALLS_IN_FLIGHT}. */
  maxCallsInFlight?: number;
  /**
   * A call's worth in rows: a copy lists its rows' hosts in one reply instead of a count per
   * host when that costs no more (see `countPlan`); default {@link CALL_COST} (0: always count
   * per host, Infinity: always list).
   */
  callWorthInRows?: number;
  /**
   * Waits until a call of this cost (in {@link CALL_COST}'s units) may be made: the collector's
   * budget for comparisons (see {@link COMPARE_COST_PER_SECOND}). None: as fast as the calls in
   * flight allow.
   */
  pace?: (cost: number) => Promise<void>;
}

/**
 * What a call costs the collector, in atoms decoded: about a hundred (encoding the request, a
 * timer, a reply to match). A reply's rows cost one each on top.
 */
export const CALL_COST = 100;

/**
 * The collector's budget for comparing copies, in {@link CALL_COST}'s units a second: about a
 * tenth of a core. Comparing 600 copies of 50,000 names costs some 30 million; unpaced, a
 * comparison kept a 1,000-node collector busy for half a minute at a time (15,000 calls a
 * second to the nodes), and a pod's change waited behind it. Paced, the probes and the pushes
 * keep the event loop, and the nodes see a steady trickle instead of a flood.
 */
export const COMPARE_COST_PER_SECOND = 400_000;

/**
 * The most of that budget spent at once: a fiftieth of a second's (about 2 ms of the server's
 * time, 80 calls). A budget renewed whole each second let a comparison's calls go out in one
 * burst at each second's start, whose replies held the event loop 100–160 ms at a time: a pod's
 * change arriving then waited behind them (issue 16's push). Dripped in, the same budget is
 * spent evenly across the second.
 */
export const COMPARE_BURST_COST = COMPARE_COST_PER_SECOND / 50;

/**
 * The pace of one collector's comparisons (`CompareOptions.pace`): its budget dripped in
 * continuously, at most a burst's worth held, shared by every comparison it makes. A call dearer
 * than a burst pays for itself in installments: it waits for its whole cost, yet never makes a
 * burst of its own.
 */
export function comparisonPace(): (cost: number) => Promise<void> {
  const budget = new TokenBucket({
    bucketSize: COMPARE_BURST_COST,
    tokensPerInterval: COMPARE_COST_PER_SECOND,
    interval: 'second',
  });
  return async (cost) => {
    for (let left = cost; left > 0; left -= COMPARE_BURST_COST)
      await budget.removeTokens(Math.min(left, COMPARE_BURST_COST));
  };
}

/**
 * Calls one comparison keeps in flight. Enough to hide the round trips (a count is answered in
 * microseconds on the node); few enough that the pending calls cost kilobytes, whatever the
 * cluster's size — all k × k counts at once held gigabytes at 1,000 nodes.
 */
export const COMPARE_CALLS_IN_FLIGHT = 64;

/** A node that holds a copy: its table's atom and size (null if it vanished since). */
interface FoundCopy {
  node: string;
  table: Atom;
  size: number | null;
}

/**
 * The calls that count each copy's rows per host, in copy order: one for a copy whose list of
 * rows' hosts costs no more than counting (a call, and a row each for its rows, against a call
 * per host: with k hosts, up to `callWorthInRows` × (k − 1) rows; 0: never, Infinity: always),
 * one per host for a larger one. At 1,000 nodes the k × k counts had been three quarters of every
 * call the collector made; a large registry on few hosts still costs and ships less counted on
 * the node. Computed from an index as the bounded workers take them, so a plan of a million
 * counts holds k numbers, not a million tasks.
 */
export function countPlan(
  copies: ReadonlyArray<{ size: number | null }>,
  hosts: number,
  callWorthInRows: number,
): { tasks: number; task(index: number): { copyIndex: number; host: number | null } } {
  const oneCall = copies.map(
    (copy) =>
      callWorthInRows > 0 &&
      copy.size !== null &&
      copy.size + callWorthInRows <= callWorthInRows * hosts,
  );
  // starts[c]: the index of copy c's first task.
  const starts: number[] = [];
  let tasks = 0;
  for (const single of oneCall) {
    starts.push(tasks);
    tasks += single ? 1 : hosts;
  }
  return {
    tasks,
    task(index) {
      // The last copy whose first task is at or before `index`.
      let low = 0;
      let high = starts.length - 1;
      while (low < high) {
        const middle = (low + high + 1) >> 1;
        if (starts[middle]! <= index) low = middle;
        else high = middle - 1;
      }
      return { copyIndex: low, host: oneCall[low] ? null : index - starts[low]! };
    },
  };
}

const pidKeyOf = (pid: Term): string =>
  pid instanceof Pid ? `${pid.node.name}|${pid.id}|${pid.serial}|${pid.creation}` : formatTerm(pid);

const pidView = (pid: Term): { pid: string; pidNode: string } =>
  pid instanceof Pid
    ? { pid: `<${pid.id}.${pid.serial}>`, pidNode: pid.node.name }
    : { pid: formatTerm(pid), pidNode: '' };

/**
 * Compares the copies of `registry` held by `nodes` (one partition), shipping as little as it
 * can:
 * 1. each copy's rows are counted per hosting node: from one reply listing its rows' hosts when
 *    the copy is small enough (k calls for k copies), else on the node, one count per host;
 * 2. copies with the same counts everywhere form a group, and one copy speaks for its group;
 * 3. for the hosts where the groups' counts differ, each group's copy sends its keys (no pids);
 * 4. a key some groups hold and others do not is missing there; a key every group holds, under
 *    different hosts, points at two processes — a duplicate; the first few of each are looked
 *    up one by one for their pids.
 * Two copies that differ only where their counts compensate exactly go unnoticed: the counts
 * are a fingerprint, not a proof. Null when the registry has no comparable table.
 */
export async function compareCopies(
  rpcOf: (node: string) => RpcFunction,
  registry: string,
  nodes: readonly string[],
  options: CompareOptions,
): Promise<CopyComparison | null> {
  const spec = registryTable(registry);
  if (!spec) return null;
  let calls = 0;
  // `rows`: how many rows the reply is expected to carry (each costs about an atom's decoding).
  const call = async <T>(node: string, probe: ProbeCall<T>, rows = 0) => {
    calls += 1;
    await options.pace?.(CALL_COST + rows);
    return callProbe(rpcOf(node), probe, options.timeoutMs);
  };
  const limit = options.maxCallsInFlight ?? COMPARE_CALLS_IN_FLIGHT;
  // The table exists where its name is an atom: a node without it holds no copy to compare.
  // Its size says how the copy is best counted per host (see `countPlan`).
  const found = await mapBounded(nodes.length, limit, async (index) => {
    const node = nodes[index]!;
    calls += 1;
    await options.pace?.(CALL_COST);
    const table = await existingAtom(rpcOf(node), spec.table, options.timeoutMs);
    if (!table) return null;
    const size = await call(node, tableSizeProbe(table));
    return { node, table, size };
  });
  const copies = found.filter((copy): copy is FoundCopy => copy !== null);
  if (copies.length < 2) return null;
  // Node names of one partition are atoms on each of its nodes already (they are connected).
  const hosts = nodes.map((node) => atom(node));
  const hostIndex = new Map(hosts.map((host, index) => [host.name, index]));
  const plan = countPlan(copies, hosts.length, options.callWorthInRows ?? CALL_COST);

  // Each copy's row of counts (one per host) becomes its group's signature as soon as it is
  // complete, in copy order; only a new group keeps its row. So what is held is a row per group
  // and the few rows being filled — k × groups numbers, not k × k.
  const groups = new Map<string, { copy: FoundCopy; nodes: string[]; counts: number[] }>();
  const filling = new Map<number, { counts: number[]; filled: number }>();
  let nextToGroup = 0;
  const groupCompleteRows = () => {
    for (;;) {
      const row = filling.get(nextToGroup);
      if (row?.filled !== hosts.length) return;
      filling.delete(nextToGroup);
      const copy = copies[nextToGroup]!;
      const signature = row.counts.join(',');
      const group = groups.get(signature);
      if (group) group.nodes.push(copy.node);
      else groups.set(signature, { copy, nodes: [copy.node], counts: row.counts });
      nextToGroup += 1;
    }
  };
  await forEachBounded(plan.tasks, limit, async (index) => {
    const { copyIndex, host } = plan.task(index);
    const { node, table } = copies[copyIndex]!;
    let row = filling.get(copyIndex);
    if (!row)
      filling.set(copyIndex, (row = { counts: new Array<number>(hosts.length), filled: 0 }));
    if (host === null) {
      // The whole row from one reply: each of the copy's rows names its host.
      const counts = row.counts.fill(0);
      const rows = copies[copyIndex]!.size ?? 0;
      for (const rowHost of await call(node, rowHostsProbe(table, spec.layout), rows)) {
        const at = hostIndex.get(rowHost);
        if (at !== undefined) counts[at] = counts[at]! + 1;
      }
      row.filled = hosts.length;
    } else {
      row.counts[host] = await call(node, rowsOnHostProbe(table, spec.layout, hosts[host]!));
      row.filled += 1;
    }
    groupCompleteRows();
  });
  const speakers = [...groups.values()];
  const differing = hosts
    .map((host, index) => ({ host, index }))
    .filter(({ index }) =>
      speakers.some((group) => group.counts[index] !== speakers[0]!.counts[index]),
    );

  // key text → group index → host; and each key's term, for the sample lookups.
  const hostsOfKey = new Map<string, Map<number, string>>();
  const terms = new Map<string, Term>();
  let keysFetched = 0;
  // Every (group, host), a bounded number at a time: a node that stopped answering still costs
  // one timeout (the first failure ends the comparison), not one per host.
  await forEachBounded(speakers.length * differing.length, limit, async (index) => {
    const groupIndex = Math.floor(index / differing.length);
    const group = speakers[groupIndex]!;
    const differingHost = differing[index % differing.length]!;
    const keys = await call(
      group.copy.node,
      keysOnHostProbe(group.copy.table, spec.layout, differingHost.host),
      group.counts[differingHost.index],
    );
    keysFetched += keys.length;
    for (const key of keys) {
      const text = formatTerm(key, { maxLength: 200 });
      if (!terms.has(text)) terms.set(text, key);
      let byGroup = hostsOfKey.get(text);
      if (!byGroup) hostsOfKey.set(text, (byGroup = new Map()));
      byGroup.set(groupIndex, differingHost.host.name);
    }
  });

  const sampleSize = options.sampleSize ?? 10;
  const missing: RegistryDivergence['missing'] = { count: 0, sample: [] };
  const duplicates: RegistryDivergence['duplicates'] = { count: 0, sample: [] };
  const duplicateKeys: string[] = [];
  for (const key of [...hostsOfKey.keys()].sort()) {
    const byGroup = hostsOfKey.get(key)!;
    if (byGroup.size < speakers.length) {
      missing.count += 1;
      if (missing.sample.length < sampleSize) {
        const heldBy = speakers.filter((_, index) => byGroup.has(index)).flatMap((g) => g.nodes);
        const missingOn = speakers
          .filter((_, index) => !byGroup.has(index))
          .flatMap((g) => g.nodes);
        missing.sample.push({ name: key, heldBy: heldBy.sort(), missingOn: missingOn.sort() });
      }
    } else if (new Set(byGroup.values()).size > 1) {
      duplicates.count += 1;
      if (duplicateKeys.length < sampleSize) duplicateKeys.push(key);
    }
  }
  // The sampled duplicates' processes, one lookup per group's copy.
  const pidsOf = await mapBounded(duplicateKeys.length, 1, (keyIndex) => {
    const key = duplicateKeys[keyIndex]!;
    return mapBounded(speakers.length, limit, (groupIndex) => {
      const group = speakers[groupIndex]!;
      return call(group.copy.node, rowPidsProbe(group.copy.table, terms.get(key)!, spec.layout));
    });
  });
  for (const [keyIndex, key] of duplicateKeys.entries()) {
    const views = new Map<string, RegistryNameView>();
    for (const [groupIndex, group] of speakers.entries()) {
      for (const pid of pidsOf[keyIndex]![groupIndex]!) {
        const id = pidKeyOf(pid);
        const view = views.get(id);
        if (view) view.heldBy.push(...group.nodes);
        else views.set(id, { ...pidView(pid), heldBy: [...group.nodes] });
      }
    }
    duplicates.sample.push({
      name: key,
      views: [...views.values()].map((view) => ({ ...view, heldBy: view.heldBy.sort() })),
    });
  }
  return {
    registry,
    nodes: copies.map((copy) => copy.node),
    missing,
    duplicates,
    calls,
    keysFetched,
    groups: speakers.length,
    hostsCompared: differing.length,
  };
}

/**
 * A comparison of large copies asks k × k counts: a second at 100 nodes, far more at 1,000. The
 * next comparison of the same copies waits this many times as long as the last took (a tenth of
 * the time spent comparing at most), however often the counts still look off; a heal asks at
 * once.
 */
export const COMPARE_COST_WAIT = 9;

/** A heal this long before copies were first seen to disagree is taken as their cause. */
const HEAL_WINDOW_MS = 60_000;

/** A partition's nodes as a stable identity (partition indexes move as the mesh changes). */
const partitionId = (nodes: readonly string[]) => nodes[0] ?? '';

interface Active {
  registry: string;
  partitionNodes: string[];
  since: number;
  comparedAt: number;
  missing: RegistryDivergence['missing'];
  duplicates: RegistryDivergence['duplicates'];
}

/** Partitions (of two nodes or more) where a registry's copies may disagree, by its counts. */
export function suspectedDivergences(
  state: Pick<ClusterState, 'registries' | 'partitions' | 'members'>,
): Array<{ registry: string; nodes: string[] }> {
  const found: Array<{ registry: string; nodes: string[] }> = [];
  const probed = new Set<string>();
  for (const member of state.members) {
    if (member.beam?.probedAt) probed.add(member.beam.node);
  }
  for (const summary of state.registries) {
    if (!summary.replicated || !registryTable(summary.registry)) continue;
    state.partitions.forEach((partition, index) => {
      const shares = summary.shares.filter((share) => share.partition === index);
      if (shares.length < 2) return;
      const sizes = new Set(shares.map((share) => share.count));
      const hosted = shares.map((share) => share.hosted);
      // Copies of one size whose hosted entries add up to more or less than that size hold
      // the same number of names, not the same names: a name can point at two processes. Only
      // once every node of the partition has been probed: while a start's first probes come in,
      // the nodes counted so far host a part of the names, and comparing copies of 50,000 names
      // across 1,000 nodes then costs a million calls for nothing.
      const everyNodeCounted =
        partition.every((node) => probed.has(node)) && hosted.every((value) => value !== null);
      const hostedSum = everyNodeCounted
        ? hosted.reduce((sum: number, value) => sum + value!, 0)
        : null;
      if (sizes.size > 1 || (hostedSum !== null && hostedSum !== shares[0]!.count)) {
        found.push({ registry: summary.registry, nodes: partition });
      }
    });
  }
  return found;
}

/**
 * Keeps the divergences found so far and decides what to compare next: any partition whose
 * counts suggest the copies disagree, and any partition with a known divergence (to see it
 * clear), at most every `intervalMs` each. Emits an event when a divergence appears and when it
 * clears, with how long the copies took to agree — counted from the last heal when there was one.
 */
export class DivergenceMonitor {
  private readonly active = new Map<string, Active>();
  private readonly lastCompared = new Map<string, number>();
  /** How long the last comparison of each took (ms): the next waits a multiple of it. */
  private readonly lastCost = new Map<string, number>();
  private lastHealAt: number | null = null;

  constructor(private readonly intervalMs = 3000) {}

  /**
   * Notes a heal of the mesh: the copies are compared again at once (they disagree right after
   * a heal, sometimes only for seconds), and how long they take to agree is timed from it.
   */
  healed(at: number): void {
    // A mesh heals in steps (partitions merge one link at a time): time from the first step.
    if (this.lastHealAt === null || at - this.lastHealAt > HEAL_WINDOW_MS) this.lastHealAt = at;
    this.lastCompared.clear();
    this.lastCost.clear();
  }

  /** What to compare now: `{registry, nodes}` pairs due for a comparison. */
  due(state: Pick<ClusterState, 'registries' | 'partitions' | 'members'>, now: number) {
    const wanted = new Map<string, { registry: string; nodes: string[] }>();
    for (const entry of suspectedDivergences(state)) {
      wanted.set(`${entry.registry}|${partitionId(entry.nodes)}`, entry);
    }
    for (const [id, active] of this.active) {
      if (wanted.has(id)) continue;
      // Counts look fine again: one more comparison confirms it, on the partition as it is now.
      const partition = state.partitions.find((nodes) => nodes.includes(active.partitionNodes[0]!));
      if (partition && partition.length >= 2)
        wanted.set(id, { registry: active.registry, nodes: partition });
      else this.active.delete(id);
    }
    return [...wanted.entries()]
      .filter(([id]) => {
        const wait = Math.max(this.intervalMs, (this.lastCost.get(id) ?? 0) * COMPARE_COST_WAIT);
        return now - (this.lastCompared.get(id) ?? -Infinity) >= wait;
      })
      .map(([id, entry]) => {
        this.lastCompared.set(id, now);
        return entry;
      });
  }

  /** Records a comparison's result; returns the events it gives rise to. */
  record(result: CopyComparison, now: number): TimelineEventDraft[] {
    const id = `${result.registry}|${partitionId(result.nodes)}`;
    const started = this.lastCompared.get(id);
    if (started !== undefined && started <= now) this.lastCost.set(id, now - started);
    // A comparison of a whole partition speaks for every earlier divergence of the registry
    // among its nodes: a side's, before the heal that merged it in. They become this one.
    const compared = new Set(result.nodes);
    let previous = this.active.get(id);
    for (const [other, active] of [...this.active]) {
      if (other === id || active.registry !== result.registry) continue;
      if (!active.partitionNodes.every((node) => compared.has(node))) continue;
      this.active.delete(other);
      if (!previous || active.since < previous.since) previous = { ...active };
    }
    const diverged = result.missing.count + result.duplicates.count > 0;
    const label = registryLabel(result.registry);
    const unit = registryUnit(result.registry);
    if (diverged) {
      this.active.set(id, {
        registry: result.registry,
        partitionNodes: result.nodes,
        since: previous?.since ?? now,
        comparedAt: now,
        missing: result.missing,
        duplicates: result.duplicates,
      });
      if (previous) return [];
      return [
        {
          kind: 'registry_diverged',
          severity: 'warning',
          message: `${label} copies disagree on ${result.nodes.length} nodes: ${formatCount(result.missing.count)} ${unit} missing on some, ${formatCount(result.duplicates.count)} pointing at two processes`,
        },
      ];
    }
    if (!previous) return [];
    this.active.delete(id);
    // Copies disagree right after a heal, so the heal usually comes a little before the first
    // comparison that sees them disagree: time the agreement from it when it is that recent.
    const from =
      this.lastHealAt !== null && this.lastHealAt >= previous.since - HEAL_WINDOW_MS
        ? this.lastHealAt
        : previous.since;
    const took = ((now - from) / 1000).toFixed(1);
    const after = from === this.lastHealAt ? 'after the heal' : 'after they diverged';
    return [
      {
        kind: 'registry_converged',
        severity: 'info',
        message: `${label} copies agree again on ${result.nodes.length} nodes, ${took} s ${after} (${formatCount(previous.duplicates.count)} duplicates, ${formatCount(previous.missing.count)} missing at the last look)`,
      },
    ];
  }

  /** The divergences as the state shows them, indexed by the state's partitions. */
  forState(state: Pick<ClusterState, 'partitions'>): RegistryDivergence[] {
    const shown: RegistryDivergence[] = [];
    for (const active of this.active.values()) {
      const partition = state.partitions.findIndex((nodes) =>
        nodes.includes(active.partitionNodes[0]!),
      );
      // Shown only while the compared nodes are still one partition: after a split (or a heal)
      // the next comparison, due at once, says what the new partition's copies hold.
      const nodes = new Set(state.partitions[partition] ?? []);
      if (partition < 0 || !active.partitionNodes.every((node) => nodes.has(node))) continue;
      shown.push({
        registry: active.registry,
        partition,
        since: active.since,
        comparedAt: active.comparedAt,
        missing: active.missing,
        duplicates: active.duplicates,
      });
    }
    return shown.sort((x, y) => x.partition - y.partition || (x.registry < y.registry ? -1 : 1));
  }
}
