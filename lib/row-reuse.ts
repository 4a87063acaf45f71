/**
 * Keeping a table row's identity while its content is unchanged: the membership table memoises
 * each row by the row object, so a delta that touched three members re-renders three rows, not
 * two thousand. Rows are rebuilt from every new state; this hands back the previous object for
 * each row that reads the same.
 */
import type { ClusterMember, ClusterState } from './cluster-state';
import { membershipRows, type MembershipRow, type RowRegistry } from './membership';

function sameRegistries(a: readonly RowRegistry[], b: readonly RowRegistry[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return a.every((entry, index) => {
    const other = b[index]!;
    return (
      entry.registry === other.registry &&
      entry.hosted === other.hosted &&
      entry.count === other.count &&
      entry.replicated === other.replicated &&
      entry.title === other.title
    );
  });
}

/** Whether two rows show the same thing (every field; registries entry by entry). */
export function sameRow(a: MembershipRow, b: MembershipRow): boolean {
  if (a === b) return true;
  for (const field of Object.keys(a) as Array<keyof MembershipRow>) {
    if (field === 'registries') continue;
    if (a[field] !== b[field]) return false;
  }
  return (
    Object.keys(a).length === Object.keys(b).length && sameRegistries(a.registries, b.registries)
  );
}

/**
 * `rows`, with each row that equals the previous row of its id replaced by that previous object.
 * The array is new whenever any row is; it is `previous`'s own when nothing changed at all.
 */
export function reuseRows(
  previous: readonly MembershipRow[],
  rows: readonly MembershipRow[],
): readonly MembershipRow[] {
  const before = new Map(previous.map((row) => [row.id, row]));
  let changed = previous.length !== rows.length;
  const next = rows.map((row, index) => {
    const old = before.get(row.id);
    if (old && sameRow(old, row)) {
      if (previous[index] !== old) changed = true;
      return old;
    }
    changed = true;
    return row;
  });
  return changed ? next : previous;
}

/**
 * The rows a table showed last, so that the next state's rows can reuse them: one per table,
 * held by the component (a row of one cluster must not stand in for another's).
 */
export class RowKeeper {
  private previous: readonly MembershipRow[] = [];

  /** {@link reuseRows} against the rows this keeper returned last. */
  keep(rows: readonly MembershipRow[]): readonly MembershipRow[] {
    this.previous = reuseRows(this.previous, rows);
    return this.previous;
  }
}

/** What a row reads of the state besides its member (see membershipRows and memberVisualState). */
type RowContext = Pick<ClusterState, 'mainPartition' | 'ghosts' | 'unclustered'>;

function sameContext(a: RowContext | null, b: RowContext): boolean {
  return (
    a !== null &&
    a.mainPartition === b.mainPartition &&
    a.ghosts === b.ghosts &&
    a.unclustered === b.unclustered
  );
}

/**
 * {@link membershipRows} that builds a row only for a member object it has not seen: a delta
 * replaces the members it changed and keeps the others' objects, so the rows of a state that
 * changed three members cost three rows, not two thousand. The state-wide inputs of a row (the
 * main partition, the ghosts, the unclustered list) are compared by identity, as a delta keeps
 * them; when one changed, every row is built again.
 */
export class MemberRowCache {
  private rows = new WeakMap<ClusterMember, MembershipRow>();
  private context: RowContext | null = null;

  /** The rows of `state`, in its order. */
  rowsOf(state: ClusterState): MembershipRow[] {
    if (!sameContext(this.context, state)) {
      this.rows = new WeakMap();
      this.context = {
        mainPartition: state.mainPartition,
        ghosts: state.ghosts,
        unclustered: state.unclustered,
      };
    }
    const unseen = state.members.filter((member) => !this.rows.has(member));
    if (unseen.length > 0) {
      const built = membershipRows({ ...state, members: unseen });
      unseen.forEach((member, index) => this.rows.set(member, built[index]!));
    }
    return state.members.map((member) => this.rows.get(member)!);
  }
}
