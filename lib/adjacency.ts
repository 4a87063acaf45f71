/**
 * The adjacency view's model: every member against every other, one cell per ordered pair, members
 * sorted by partition and then by name so that each partition is a block along the diagonal. Pure,
 * so what a cell says is pinned down by unit tests and the view only paints it.
 *
 * A cell is read by {@link cellState}: row `r` is the member whose peer list is read, column `c`
 * the member it may list. Cells are held in one byte array (N² bytes: 4 MB at 2,000 members) and
 * filled without a lookup per pair where the mesh is whole: a node whose list names every other
 * member of its partition is told by one walk of the list beside the block's rows (both sorted by
 * name), so only the rows and columns of nodes that miss someone are read pair by pair.
 *
 * The model reads the members' own lists, not a `MeshBuilder` mesh (lib/mesh.ts), which holds each
 * list relative to every node it has met, and a netsplit rebuilt hundreds of thousands of
 * "missing" names in it (200–350 ms at 1,000 members, one task in the page) where the matrix
 * needs, per row, only whether its list is its whole partition.
 */
import type { ClusterMember, ClusterState } from './cluster-state';
import { memberId, memberVisualState, type MemberVisualState } from './graph-model';
import { compareNames } from './names';
import { peerSet } from './peer-set';

/**
 * What one ordered pair (row, column) shows:
 * - `self`: the diagonal;
 * - `link`: each lists the other;
 * - `one-sided-out`: the row lists the column, the column does not list the row;
 * - `one-sided-in`: the column lists the row, the row does not list the column;
 * - `missing`: one partition, and neither lists the other (a hole in the mesh);
 * - `split`: different partitions (neither lists the other, as partitions mean);
 * - `unknown`: the peers of one side are not known (unreachable, not probed, outside the mesh).
 */
export type AdjacencyCell =
  'self' | 'link' | 'one-sided-out' | 'one-sided-in' | 'missing' | 'split' | 'unknown';

/** Every cell state; a cell's byte in {@link AdjacencyModel.cells} is its index here. */
export const ADJACENCY_CELLS: readonly AdjacencyCell[] = [
  'unknown',
  'self',
  'link',
  'one-sided-out',
  'one-sided-in',
  'missing',
  'split',
];

const UNKNOWN = 0;
const SELF = 1;
const LINK = 2;
const ONE_SIDED_OUT = 3;
const ONE_SIDED_IN = 4;
const MISSING = 5;
const SPLIT = 6;

/** Above this many members the dashboard opens on the adjacency view rather than the graph. */
export const ADJACENCY_DEFAULT_THRESHOLD = 300;

/** One row (and the same column) of the matrix. */
export interface AdjacencyMember {
  /** {@link memberId}: stable across updates. */
  id: string;
  /** The member's key in the state (selection, the table). */
  key: string;
  label: string;
  node: string | null;
  state: MemberVisualState;
  /** Index into {@link AdjacencyModel.blocks}. */
  block: number;
  /** Whether the member's peer list is known (its node connected and reporting). */
  peersKnown: boolean;
}

/** A run of rows (and columns) along the diagonal: a partition, or the members outside the mesh. */
export interface AdjacencyBlock {
  label: string;
  kind: 'partition' | 'outside';
  main: boolean;
  /** First row of the block. */
  start: number;
  size: number;
}

/** A cell worth marking even when the matrix is drawn smaller than a pixel a cell. */
export interface TroubleCell {
  row: number;
  col: number;
  cell: 'one-sided-out' | 'one-sided-in' | 'missing';
}

/** What the adjacency view draws for one state. */
export interface AdjacencyModel {
  /** Rows in order: by partition (main first, as the state lists them), outside last, by name. */
  members: AdjacencyMember[];
  blocks: AdjacencyBlock[];
  /** Row (= column) of each node name, for layers drawn over the cells (traffic, say). */
  rowOfNode: ReadonlyMap<string, number>;
  /** `size × size` bytes, row-major: index into {@link ADJACENCY_CELLS}. */
  cells: Uint8Array;
  size: number;
  /** Ordered pairs per state (the diagonal counted as `self`). */
  counts: Readonly<Record<AdjacencyCell, number>>;
  /** The one-sided and missing cells, up to `maxTrouble` of them, row by row. */
  trouble: TroubleCell[];
  /** Whether `trouble` stopped short of every such cell. */
  troubleTruncated: boolean;
}

/** Options of {@link buildAdjacency}. */
export interface AdjacencyOptions {
  /** At most this many trouble cells are listed (every cell is still in `cells`). */
  maxTrouble?: number;
  /**
   * The model drawn before: when every row's peer list is the same (a delta that changed a load
   * figure, say: the state keeps an unchanged list's identity) and so are the rows, its cells are
   * kept instead of filled again.
   */
  previous?: AdjacencyModel;
}

/** A row's peer list as the cells read it: known when its node is connected and reported one. */
type RowPeers = readonly string[] | undefined;

/** The peer list of each row each model was filled from, to tell whether a later state may keep its cells. */
const listsOfModel = new WeakMap<AdjacencyModel, readonly RowPeers[]>();

function peersOf(member: ClusterMember): RowPeers {
  const beam = member.beam;
  if (member.node === null || !beam || beam.connection.status !== 'connected') return undefined;
  return beam.sees ?? undefined;
}

const sameLists = (a: readonly RowPeers[] | undefined, b: readonly RowPeers[]) =>
  a !== undefined && a.length === b.length && a.every((list, row) => list === b[row]);

/**
 * Whether `list` (the peers of the member at `row`) names every other member of `block`. One walk
 * beside the block's rows when the list is in their order (the state keeps lists sorted by name,
 * and a partition's rows are sorted so), else a set; a list shorter than the block cannot be whole.
 */
function namesWholeBlock(
  list: readonly string[],
  row: number,
  block: AdjacencyBlock,
  members: readonly AdjacencyMember[],
): boolean {
  if (block.kind !== 'partition' || list.length < block.size - 1) return false;
  if (list.length === block.size - 1) {
    let position = 0;
    for (let other = block.start; other < block.start + block.size; other += 1) {
      if (other === row) continue;
      if (list[position] !== members[other]!.node) break;
      position += 1;
    }
    if (position === list.length) return true;
  }
  const set = peerSet(list);
  for (let other = block.start; other < block.start + block.size; other += 1) {
    if (other !== row && !set.has(members[other]!.node!)) return false;
  }
  return true;
}

function sameRows(a: readonly AdjacencyMember[], b: readonly AdjacencyMember[]): boolean {
  if (a.length !== b.length) return false;
  for (let row = 0; row < a.length; row += 1) {
    const x = a[row]!;
    const y = b[row]!;
    if (x.node !== y.node || x.block !== y.block || x.peersKnown !== y.peersKnown) return false;
  }
  return true;
}

function sameBlocks(a: readonly AdjacencyBlock[], b: readonly AdjacencyBlock[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (block, index) =>
        block.kind === b[index]!.kind &&
        block.start === b[index]!.start &&
        block.size === b[index]!.size,
    )
  );
}

/** Whether two row lists (of {@link sameRows}) also show the same ids, keys, labels and states. */
function sameShownRows(a: readonly AdjacencyMember[], b: readonly AdjacencyMember[]): boolean {
  for (let row = 0; row < a.length; row += 1) {
    const x = a[row]!;
    const y = b[row]!;
    if (x.id !== y.id || x.key !== y.key || x.label !== y.label || x.state !== y.state)
      return false;
  }
  return true;
}

function sameBlockLabels(a: readonly AdjacencyBlock[], b: readonly AdjacencyBlock[]): boolean {
  return a.every(
    (block, index) => block.label === b[index]!.label && block.main === b[index]!.main,
  );
}

function labelOf(member: ClusterMember): string {
  return member.node ?? member.kubernetes?.podName ?? member.kubernetes?.ip ?? member.key;
}

/** The adjacency model of a state; see the file's comment. */
export function buildAdjacency(
  state: ClusterState,
  options: AdjacencyOptions = {},
): AdjacencyModel {
  const maxTrouble = options.maxTrouble ?? 20_000;
  const blockCount = state.partitions.length;
  const byBlock: ClusterMember[][] = Array.from({ length: blockCount + 1 }, () => []);
  for (const member of state.members) {
    const partition = member.partition;
    byBlock[partition !== null && partition < blockCount ? partition : blockCount]!.push(member);
  }
  const members: AdjacencyMember[] = [];
  const blocks: AdjacencyBlock[] = [];
  const lists: RowPeers[] = [];
  byBlock.forEach((blockMembers, index) => {
    if (blockMembers.length === 0) return;
    const outside = index === blockCount;
    const block = blocks.length;
    blocks.push({
      label: outside
        ? `outside the mesh · ${blockMembers.length}`
        : blockCount === 1
          ? `mesh · ${blockMembers.length}`
          : `partition ${index + 1}${index === state.mainPartition ? ' (main)' : ''} · ${blockMembers.length}`,
      kind: outside ? 'outside' : 'partition',
      main: !outside && index === state.mainPartition,
      start: members.length,
      size: blockMembers.length,
    });
    const sorted = blockMembers
      .map((member) => ({ member, label: labelOf(member) }))
      .sort((a, b) => compareNames(a.label, b.label) || compareNames(a.member.key, b.member.key));
    for (const { member, label } of sorted) {
      const peers = peersOf(member);
      lists.push(peers);
      members.push({
        id: memberId(member),
        key: member.key,
        label,
        node: member.node,
        state: memberVisualState(member, state),
        block,
        peersKnown: peers !== undefined,
      });
    }
  });

  const previous = options.previous;
  if (
    previous &&
    sameLists(listsOfModel.get(previous), lists) &&
    sameRows(previous.members, members) &&
    sameBlocks(previous.blocks, blocks)
  ) {
    // Same lists, same rows, and nothing a row or a block shows changed (a delta of load figures,
    // say): the model drawn before is this one, and the view has nothing to render again.
    if (sameShownRows(previous.members, members) && sameBlockLabels(previous.blocks, blocks)) {
      return previous;
    }
    // Same lists, same rows: only the members' states and the labels may have changed.
    const kept: AdjacencyModel = { ...previous, members, blocks };
    listsOfModel.set(kept, lists);
    return kept;
  }

  const size = members.length;
  const rowOfNode = new Map<string, number>();
  members.forEach((member, row) => {
    if (member.node !== null) rowOfNode.set(member.node, row);
  });
  // A row's peers, when known; and whether they are its whole partition (see the file's comment).
  const views = lists;
  const full = members.map((member, row) => {
    const list = lists[row];
    return list !== undefined && namesWholeBlock(list, row, blocks[member.block]!, members);
  });
  const wholeBlock = blocks.map((block) => {
    for (let row = block.start; row < block.start + block.size; row += 1) {
      if (!full[row]) return false;
    }
    return block.kind === 'partition';
  });

  const cells = new Uint8Array(size * size);
  const counts: Record<AdjacencyCell, number> = {
    unknown: 0,
    self: 0,
    link: 0,
    'one-sided-out': 0,
    'one-sided-in': 0,
    missing: 0,
    split: 0,
  };
  const trouble: TroubleCell[] = [];
  let troubleTruncated = false;
  // Columns whose peers are known, per block: cross-block cells are `split` between known rows.
  const knownInBlock = blocks.map((block) => {
    let known = 0;
    for (let col = block.start; col < block.start + block.size; col += 1) {
      if (views[col] !== undefined) known += 1;
    }
    return known;
  });

  // Per block that is not whole, which of its members each row lists: a byte per pair, from one
  // pass over each list (a lookup per name listed) rather than two set lookups per pair. While a
  // split reaches every node, a block of 600 is read pair by pair at every delta.
  const listedInBlock = blocks.map((block, index) => {
    if (wholeBlock[index]) return undefined;
    const width = block.size;
    const listed = new Uint8Array(width * width);
    for (let row = block.start; row < block.start + width; row += 1) {
      const list = views[row];
      if (list === undefined) continue;
      const base = (row - block.start) * width;
      if (full[row]) {
        listed.fill(1, base, base + width);
        continue;
      }
      for (const name of list) {
        const col = rowOfNode.get(name);
        if (col !== undefined && col >= block.start && col < block.start + width) {
          listed[base + col - block.start] = 1;
        }
      }
    }
    return listed;
  });
  // Pairs read one by one, counted by cell code and added to `counts` at the end.
  const tally = new Float64Array(ADJACENCY_CELLS.length);

  for (let row = 0; row < size; row += 1) {
    const offset = row * size;
    const rowView = views[row];
    const ownBlock = blocks[members[row]!.block]!;
    if (rowView === undefined) {
      // Filled with zeros: every cell of the row is already `unknown`.
      cells[offset + row] = SELF;
      counts.unknown += size - 1;
      counts.self += 1;
      continue;
    }
    for (const [blockIndex, block] of blocks.entries()) {
      const start = offset + block.start;
      if (block !== ownBlock) {
        // Neither lists the other across partitions; unknown where the column's peers are.
        if (knownInBlock[blockIndex] === block.size) {
          cells.fill(SPLIT, start, start + block.size);
        } else {
          for (let col = block.start; col < block.start + block.size; col += 1) {
            cells[offset + col] = views[col] === undefined ? UNKNOWN : SPLIT;
          }
        }
        counts.split += knownInBlock[blockIndex]!;
        counts.unknown += block.size - knownInBlock[blockIndex]!;
        continue;
      }
      if (wholeBlock[blockIndex]) {
        cells.fill(LINK, start, start + block.size);
        cells[offset + row] = SELF;
        counts.link += block.size - 1;
        counts.self += 1;
        continue;
      }
      const listed = listedInBlock[blockIndex]!;
      const width = block.size;
      const rowInBlock = row - block.start;
      const neither = block.kind === 'partition' ? MISSING : SPLIT;
      for (let col = block.start; col < block.start + width; col += 1) {
        if (col === row) {
          cells[offset + col] = SELF;
          tally[SELF] = tally[SELF]! + 1;
          continue;
        }
        if (views[col] === undefined) {
          cells[offset + col] = UNKNOWN;
          tally[UNKNOWN] = tally[UNKNOWN]! + 1;
          continue;
        }
        const colInBlock = col - block.start;
        const listsCol = listed[rowInBlock * width + colInBlock] === 1;
        const listedByCol = listed[colInBlock * width + rowInBlock] === 1;
        const cell = listsCol
          ? listedByCol
            ? LINK
            : ONE_SIDED_OUT
          : listedByCol
            ? ONE_SIDED_IN
            : neither;
        cells[offset + col] = cell;
        tally[cell] = tally[cell]! + 1;
        if (cell === ONE_SIDED_OUT || cell === ONE_SIDED_IN || cell === MISSING) {
          if (trouble.length < maxTrouble) {
            trouble.push({ row, col, cell: ADJACENCY_CELLS[cell] as TroubleCell['cell'] });
          } else {
            troubleTruncated = true;
          }
        }
      }
    }
  }
  ADJACENCY_CELLS.forEach((cell, code) => {
    counts[cell] += tally[code]!;
  });
  const model = { members, blocks, rowOfNode, cells, size, counts, trouble, troubleTruncated };
  listsOfModel.set(model, lists);
  return model;
}

/** The state of the cell at (row, column); `unknown` outside the matrix. */
export function cellState(model: AdjacencyModel, row: number, col: number): AdjacencyCell {
  if (row < 0 || col < 0 || row >= model.size || col >= model.size) return 'unknown';
  return ADJACENCY_CELLS[model.cells[row * model.size + col]!] ?? 'unknown';
}

/** One line naming the pair under a cell and what its cell means, for the hover. */
export function describeCell(model: AdjacencyModel, row: number, col: number): string | null {
  const rowMember = model.members[row];
  const colMember = model.members[col];
  if (!rowMember || !colMember) return null;
  const a = rowMember.label;
  const b = colMember.label;
  switch (cellState(model, row, col)) {
    case 'self':
      return `${a} (${model.blocks[rowMember.block]?.label ?? 'no partition'})`;
    case 'link':
      return `${a} ↔ ${b}: connected, each lists the other`;
    case 'one-sided-out':
      return `${a} → ${b}: one-sided, ${a} lists ${b} but ${b} does not list ${a}`;
    case 'one-sided-in':
      return `${a} ← ${b}: one-sided, ${b} lists ${a} but ${a} does not list ${b}`;
    case 'missing':
      return `${a} ✕ ${b}: missing, same partition but neither lists the other`;
    case 'split':
      return `${a} | ${b}: in different partitions (${model.blocks[rowMember.block]?.label} and ${model.blocks[colMember.block]?.label})`;
    case 'unknown':
      return `${a} · ${b}: unknown, the peers of ${rowMember.peersKnown ? b : a} are not known`;
  }
}

/** {@link buildAdjacency} for one page: each model handed the one before, so cells are kept. */
export class AdjacencyBuilder {
  private previous: AdjacencyModel | undefined;

  build(state: ClusterState): AdjacencyModel {
    this.previous = buildAdjacency(state, { previous: this.previous });
    return this.previous;
  }
}
