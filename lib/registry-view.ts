/**
 * What the dashboard says about each registry: the summaries the state carries, joined to the
 * rebalances and divergences the collector follows, turned into the figures, flags and sentences
 * the Registries panel, the membership table and the node drawer show. Pure: no clock, no DOM.
 *
 * The rule everything here keeps: a replicated registry's count is a copy's size, never what a
 * node holds. A node's figure is what it hosts; the copy's size goes beside it, never in its place.
 */
import { formatCount, formatDuration } from './format';
import type {
  ClusterState,
  RegistryCount,
  RegistryDivergence,
  RegistryRebalance,
  RegistrySummary,
} from './cluster-state';
import { registryLabel, registryUnit } from './registries';

/**
 * What a node hosts of one registry: the entries whose process lives there. A node-local
 * registry's count is exactly that; a replicated one's count is the whole copy, so without a
 * hosted figure it is unknown (null), never the copy's size.
 */
export function entryHosted(entry: Pick<RegistryCount, 'count' | 'hosted' | 'replicated'>) {
  return entry.hosted ?? (entry.replicated ? null : entry.count);
}

/** The hover text of one registry in a member's row or the drawer: hosted, with the copy beside it. */
export function entryTitle(entry: RegistryCount): string {
  const label = registryLabel(entry.registry);
  const unit = registryUnit(entry.registry);
  const hosted = entryHosted(entry);
  if (!entry.replicated) return `${label}: ${formatCount(entry.count)} ${unit}, local to this node`;
  const copy = `this node's copy of the whole registry holds ${formatCount(entry.count)} ${unit}`;
  const groups = entry.groups !== undefined ? ` in ${formatCount(entry.groups)} groups` : '';
  return hosted === null
    ? `${label}: hosted ${unit} unknown; ${copy}${groups}`
    : `${label}: ${formatCount(hosted)} ${unit} hosted on this node; ${copy}${groups}`;
}

/**
 * Flags on a registry, most urgent first. `diverged`: copies hold different names;
 * `invariant_broken`: what the nodes host does not add up to the copies' size;
 * `copies_disagree`: the copies' sizes differ (nothing to check yet); `rebalancing`: entries are
 * moving after a scale-up or down; `idle_nodes`: a node hosts nothing while others do;
 * `imbalanced`: the busiest node hosts well over the mean.
 */
export type RegistryFlag =
  'diverged' | 'invariant_broken' | 'copies_disagree' | 'rebalancing' | 'idle_nodes' | 'imbalanced';

/** Busiest over mean at or past this, and {@link IMBALANCE_MIN_EXCESS} above the mean, warns. */
export const IMBALANCE_WARN = 1.5;
/** Entries over the mean the busiest node must host before a ratio warns: 5 against 3 is noise. */
export const IMBALANCE_MIN_EXCESS = 10;

/** One node's bar of a registry. */
export interface RegistryBar {
  node: string;
  /** The node's partition (null outside the mesh) and whether that is the main one. */
  partition: number | null;
  main: boolean;
  hosted: number | null;
  /** The node's copy size (replicated registries; a node-local one's count equals `hosted`). */
  count: number;
  /** In the main partition, hosting nothing while others host entries: joined, not filled yet. */
  idle: boolean;
}

/** One registry as the panel draws it. */
export interface RegistryView {
  registry: string;
  label: string;
  /** `names`, `members`, `children`, `keys`. */
  unit: string;
  replicated: boolean;
  total: number;
  hostedTotal: number | null;
  groups: number | null;
  /** The copies' smallest and largest size in the main partition (replicated registries). */
  copies: { min: number; max: number } | null;
  /** Nodes in the main partition that report the registry. */
  nodes: number;
  /** Mean hosted over the main partition's nodes that could count; null when none could. */
  mean: number | null;
  imbalance: number | null;
  invariant: RegistrySummary['invariant'];
  idle: string[];
  bars: RegistryBar[];
  rebalance: RegistryRebalance | null;
  divergences: RegistryDivergence[];
  flags: RegistryFlag[];
}

function copiesOf(summary: RegistrySummary, mainPartition: number | null) {
  if (!summary.replicated) return null;
  const inMain = summary.shares.filter(
    (share) => mainPartition === null || share.partition === mainPartition,
  );
  const counts = (inMain.length > 0 ? inMain : summary.shares).map((share) => share.count);
  return counts.length === 0 ? null : { min: Math.min(...counts), max: Math.max(...counts) };
}

/** The view of one registry summary, with its rebalance and divergences from `state`. */
export function registryView(
  summary: RegistrySummary,
  state: Pick<ClusterState, 'mainPartition' | 'rebalances' | 'divergences'>,
): RegistryView {
  const idle = new Set(summary.idle);
  const bars = summary.shares.map((share) => {
    const main = state.mainPartition === null || share.partition === state.mainPartition;
    return {
      node: share.node,
      partition: share.partition,
      main,
      hosted: summary.replicated ? share.hosted : (share.hosted ?? share.count),
      count: share.count,
      idle: main && idle.has(share.node),
    };
  });
  const known = bars.filter((bar) => bar.main && bar.hosted !== null);
  const mean =
    known.length === 0 ? null : known.reduce((sum, bar) => sum + bar.hosted!, 0) / known.length;
  const busiest = known.reduce((max, bar) => Math.max(max, bar.hosted!), 0);
  const copies = copiesOf(summary, state.mainPartition);
  const rebalance = (state.rebalances ?? []).find((entry) => entry.registry === summary.registry);
  const divergences = (state.divergences ?? []).filter(
    (entry) => entry.registry === summary.registry,
  );
  const flags: RegistryFlag[] = [];
  if (divergences.length > 0) flags.push('diverged');
  if (summary.invariant && !summary.invariant.holds) flags.push('invariant_broken');
  if (copies && copies.min !== copies.max) flags.push('copies_disagree');
  if (rebalance) flags.push('rebalancing');
  if (summary.idle.length > 0) flags.push('idle_nodes');
  if (
    summary.imbalance !== null &&
    mean !== null &&
    summary.imbalance >= IMBALANCE_WARN &&
    busiest - mean >= IMBALANCE_MIN_EXCESS
  ) {
    flags.push('imbalanced');
  }
  return {
    registry: summary.registry,
    label: registryLabel(summary.registry),
    unit: registryUnit(summary.registry),
    replicated: summary.replicated,
    total: summary.total,
    hostedTotal: summary.hostedTotal,
    groups: summary.groups ?? null,
    copies,
    nodes: bars.filter((bar) => bar.main).length,
    mean,
    imbalance: summary.imbalance,
    invariant: summary.invariant,
    idle: summary.idle,
    bars,
    rebalance: rebalance ?? null,
    divergences,
    flags,
  };
}

/** Every registry of a state, in the state's order (stable: a registry keeps its place). */
export function registryViews(
  state: Pick<ClusterState, 'registries' | 'mainPartition' | 'rebalances' | 'divergences'>,
): RegistryView[] {
  return (state.registries ?? []).map((summary) => registryView(summary, state));
}

/** "hosted adds up to 9,950 of 10,000": the invariant as the panel states it. */
export function invariantText(invariant: RegistrySummary['invariant']): string | null {
  if (!invariant) return null;
  return `hosted adds up to ${formatCount(invariant.hostedSum)} of ${formatCount(invariant.size)}`;
}

/** Why the invariant is not checked, when it is not: copies that differ, or nodes that cannot count. */
export function uncheckedText(
  view: Pick<RegistryView, 'invariant' | 'replicated' | 'copies' | 'bars'>,
): string | null {
  if (view.invariant || !view.replicated) return null;
  if (view.copies && view.copies.min !== view.copies.max) {
    return `copies differ (${formatCount(view.copies.min)}–${formatCount(view.copies.max)}): sum not checked`;
  }
  if (view.bars.some((bar) => bar.main && bar.hosted === null)) {
    return 'a node cannot count what it hosts: sum not checked';
  }
  return null;
}

/** "max/mean 1.06", or null below two nodes that could count. */
export function imbalanceText(imbalance: number | null): string | null {
  return imbalance === null ? null : `max/mean ${imbalance.toFixed(2)}`;
}

/** How far a rebalance has come, 0–1, when its rate and time left are known. */
export function rebalanceProgress(rebalance: RegistryRebalance): number | null {
  if (rebalance.ratePerSecond === null || rebalance.etaMs === null) return null;
  const left = (rebalance.ratePerSecond * rebalance.etaMs) / 1000;
  const whole = rebalance.moved + left;
  return whole <= 0 ? 1 : Math.min(1, Math.max(0, rebalance.moved / whole));
}

/**
 * A rebalance in one line: "after a scale-up (+myapp@10.0.0.5): 1,200 names moved so far ·
 * 240 names/s · balanced in about 35s".
 */
export function rebalanceText(rebalance: RegistryRebalance, unit: string): string {
  const sign = rebalance.cause === 'scale_up' ? '+' : '−';
  const nodes = rebalance.nodes.map((node) => `${sign}${node}`).join(', ');
  const cause = rebalance.cause === 'scale_up' ? 'a scale-up' : 'a scale-down';
  const rate =
    rebalance.ratePerSecond === null
      ? 'rate not measured yet'
      : `${formatCount(Math.round(rebalance.ratePerSecond))} ${unit}/s`;
  const eta =
    rebalance.etaMs === null
      ? 'time to balanced unknown'
      : `balanced in about ${formatDuration(Math.max(1000, rebalance.etaMs))}`;
  return `after ${cause}${nodes ? ` (${nodes})` : ''}: ${formatCount(rebalance.moved)} ${unit} moved so far · ${rate} · ${eta}`;
}

/** "a, b, c and 4 more": the first `max` nodes named, the rest counted; "no node" for none. */
export function listNodes(nodes: readonly string[], max = 3): string {
  if (nodes.length === 0) return 'no node';
  // Naming all but one would be as long as naming them all.
  const shown = nodes.length <= max + 1 ? nodes : nodes.slice(0, max);
  const rest = nodes.length - shown.length;
  return `${shown.join(', ')}${rest > 0 ? ` and ${rest} more` : ''}`;
}

/** "partition 2 (main)": how the graph and the panel name a partition. */
export function partitionName(partition: number, mainPartition: number | null): string {
  return `partition ${partition + 1}${partition === mainPartition ? ' (main)' : ''}`;
}

/**
 * Why a node's bar is not like the others: another partition (left out of the totals), no
 * count, or nothing hosted yet. Short, as it stands beside the bar.
 */
export function barNote(
  bar: Pick<RegistryBar, 'main' | 'partition' | 'hosted' | 'idle'>,
  mainPartition: number | null,
): string | null {
  if (!bar.main) {
    return bar.partition === null
      ? 'outside the mesh'
      : partitionName(bar.partition, mainPartition);
  }
  if (bar.hosted === null) return 'cannot count what it hosts';
  if (bar.idle) return 'joined, hosts nothing yet';
  return null;
}

/** "12 names missing on some copies · 3 resolving to different processes". */
export function divergenceCounts(divergence: RegistryDivergence, unit: string): string {
  const parts: string[] = [];
  if (divergence.missing.count > 0) {
    parts.push(`${formatCount(divergence.missing.count)} ${unit} missing on some copies`);
  }
  if (divergence.duplicates.count > 0) {
    parts.push(
      `${formatCount(divergence.duplicates.count)} resolving to different processes (duplicates)`,
    );
  }
  return parts.length === 0 ? 'copies differ' : parts.join(' · ');
}
