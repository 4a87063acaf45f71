/**
 * The membership table's rows, sorting and filtering: pure, so the table component only
 * renders what these return.
 */
import { compareNames } from './names';
import type { ClusterMember, ClusterState } from './cluster-state';
import {
  memberHosted,
  memberId,
  memberSides,
  memberVisualState,
  type MemberSides,
  type MemberVisualState,
} from './graph-model';
import { entryHosted, entryTitle } from './registry-view';

/**
 * One registry in a member's row. `hosted` is the figure the cell shows — what lives on the node;
 * the copy's size is only in `title`, for the hover: a replicated registry's copy is the whole
 * registry on every node, so showing it per row would repeat the cluster's total on each one.
 */
export interface RowRegistry {
  registry: string;
  hosted: number | null;
  /** The node's copy size (a node-local registry: what lives on the node). */
  count: number;
  replicated: boolean;
  /** The hover text: hosted, with the copy's size beside it. */
  title: string;
}

/** One row: a member flattened to the columns the table shows. */
export interface MembershipRow {
  /** {@link memberId}: pod uid, else node name. Rows are keyed by it, never by index. */
  id: string;
  key: string;
  pod: string | null;
  ip: string | null;
  k8sNode: string | null;
  ready: boolean | null;
  state: MemberVisualState;
  /** The connection status and, when it failed, why. */
  beamStatus: string | null;
  reason: string | null;
  node: string | null;
  /** Index into the state's partitions (shown from 1), null outside the mesh. */
  partition: number | null;
  /** Whether that partition is the main one. */
  mainPartition: boolean;
  registries: RowRegistry[];
  /** Names the node hosts across its registries ({@link memberHosted}); null when unknown. */
  hosted: number | null;
  processes: number | null;
  memoryBytes: number | null;
  runQueue: number | null;
  uptimeMs: number | null;
  otp: string | null;
  sides: MemberSides;
}

/** The rows of a state, in the state's order (by key). */
export function membershipRows(state: ClusterState): MembershipRow[] {
  const unclustered = new Map(state.unclustered.map((entry) => [entry.key, entry]));
  return state.members.map((member: ClusterMember) => {
    const beam = member.beam;
    const pod = member.kubernetes;
    return {
      id: memberId(member),
      key: member.key,
      pod: pod?.podName ?? null,
      ip: pod?.ip ?? null,
      k8sNode: pod?.k8sNode ?? null,
      ready: pod ? pod.ready : null,
      state: memberVisualState(member, state),
      beamStatus: beam?.connection.status ?? null,
      reason: beam?.connection.reason ?? unclustered.get(member.key)?.detail ?? null,
      node: member.node,
      partition: member.partition,
      mainPartition: member.partition !== null && member.partition === state.mainPartition,
      registries: (beam?.registries ?? []).map((entry) => ({
        registry: entry.registry,
        hosted: entryHosted(entry),
        count: entry.count,
        replicated: entry.replicated,
        title: entryTitle(entry),
      })),
      hosted: memberHosted(member),
      processes: beam?.processCount ?? null,
      memoryBytes: beam?.memoryBytes ?? null,
      runQueue: beam?.runQueue ?? null,
      uptimeMs: beam?.uptimeMs ?? null,
      otp: beam?.otpRelease ?? null,
      sides: memberSides(member),
    };
  });
}

/** The sortable columns. */
export type SortColumn =
  | 'pod'
  | 'ip'
  | 'k8sNode'
  | 'ready'
  | 'state'
  | 'node'
  | 'partition'
  | 'hosted'
  | 'processes'
  | 'memoryBytes'
  | 'runQueue'
  | 'uptimeMs'
  | 'otp';

/** A sort order: the column and its direction. */
export interface SortOrder {
  column: SortColumn;
  direction: 'ascending' | 'descending';
}

/** A row's partition as the table shows it: "1 (main)", "2", or null outside the mesh. */
export function partitionLabel(
  row: Pick<MembershipRow, 'partition' | 'mainPartition'>,
): string | null {
  if (row.partition === null) return null;
  return `${row.partition + 1}${row.mainPartition ? ' (main)' : ''}`;
}

function valueOf(row: MembershipRow, column: SortColumn): string | number | null {
  const value = row[column];
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/** Rows sorted by `order`; blanks last whatever the direction, ties by key. */
export function sortRows(rows: readonly MembershipRow[], order: SortOrder): MembershipRow[] {
  const sign = order.direction === 'ascending' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = valueOf(a, order.column);
    const y = valueOf(b, order.column);
    if (x === null || y === null) {
      if (x !== y) return x === null ? 1 : -1;
      return compareNames(a.key, b.key);
    }
    const compared =
      typeof x === 'number' && typeof y === 'number' ? x - y : compareNames(String(x), String(y));
    return compared !== 0 ? sign * compared : compareNames(a.key, b.key);
  });
}

/** What the table is filtered by. */
export interface RowFilter {
  /** Case-insensitive text matched against pod, IP, node names, k8s node and reason. */
  text: string;
  /** Only these states (empty: all). */
  states: readonly MemberVisualState[];
  /** Only these kinds of rows (empty: all). */
  sides: readonly MemberSides[];
}

/** The rows that pass `filter`. */
export function filterRows(rows: readonly MembershipRow[], filter: RowFilter): MembershipRow[] {
  const text = filter.text.trim().toLowerCase();
  return rows.filter((row) => {
    if (filter.states.length > 0 && !filter.states.includes(row.state)) return false;
    if (filter.sides.length > 0 && !filter.sides.includes(row.sides)) return false;
    if (!text) return true;
    return [row.pod, row.ip, row.node, row.k8sNode, row.reason, row.state]
      .filter((value): value is string => value !== null)
      .some((value) => value.toLowerCase().includes(text));
  });
}
