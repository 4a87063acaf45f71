/**
 * The graph's layout for large meshes: no force simulation to settle, each mark's place a pure
 * function of its partition and its rank by name in it. Partitions sit side by side (in shelves
 * when there are many), and inside each the marks fill a square grid row by row, sorted by name.
 * A member that comes or goes moves only the marks after it by one cell; nothing is left to a
 * simulation, so the first frame is the final one and two page loads draw the same picture.
 */
import type { GraphGroup, GraphNode } from './graph-model';
import type { Point } from './layout';
import { compareNames } from './names';

/** Above this many marks the graph is laid out by {@link fixedPositions} instead of by force. */
export const FIXED_LAYOUT_THRESHOLD = 300;

/** Distance between neighbouring marks of a grid, in layout units: the largest mark (radius 8) clear of the next. */
export const FIXED_SPACING = 18;

/** Whether a graph of `marks` marks is laid out by {@link fixedPositions}. */
export function usesFixedLayout(marks: number): boolean {
  return marks > FIXED_LAYOUT_THRESHOLD;
}

/** The columns of a group's grid: as square as the group's size allows. */
export function gridColumns(size: number): number {
  return Math.max(1, Math.ceil(Math.sqrt(size)));
}

/**
 * Where each mark sits (by id). Marks are ranked by label, then id, inside their group; groups are
 * placed in index order, left to right, in shelves about as wide as the whole drawing is tall.
 */
export function fixedPositions(
  nodes: readonly Pick<GraphNode, 'id' | 'label' | 'group'>[],
  groups: readonly Pick<GraphGroup, 'size'>[],
  spacing = FIXED_SPACING,
): Map<string, Point> {
  const members: Array<Array<Pick<GraphNode, 'id' | 'label'>>> = groups.map(() => []);
  for (const node of nodes) (members[node.group] ??= []).push(node);
  for (const list of members) {
    list.sort((a, b) => compareNames(a.label, b.label) || compareNames(a.id, b.id));
  }
  // Each group's grid box, with a margin for the ring the graph draws around it: a circle around
  // a square overhangs it by (√2 − 1)/2 of its side, plus the ring's padding and title.
  const boxes = members.map((list) => {
    const columns = gridColumns(list.length);
    const width = columns * spacing;
    const height = Math.max(1, Math.ceil(list.length / columns)) * spacing;
    return { columns, width, height, margin: 0.21 * Math.max(width, height) + 2 * spacing };
  });
  const area = boxes.reduce(
    (sum, box) => sum + (box.width + 2 * box.margin) * (box.height + 2 * box.margin),
    0,
  );
  const shelfWidth = Math.max(
    Math.sqrt(area) * 1.6,
    ...boxes.map((box) => box.width + 2 * box.margin),
  );
  const positions = new Map<string, Point>();
  let x = 0;
  let y = 0;
  let shelfHeight = 0;
  boxes.forEach((box, index) => {
    const outerWidth = box.width + 2 * box.margin;
    if (x > 0 && x + outerWidth > shelfWidth) {
      x = 0;
      y += shelfHeight;
      shelfHeight = 0;
    }
    const left = x + box.margin;
    const top = y + box.margin;
    (members[index] ?? []).forEach((node, rank) => {
      positions.set(node.id, {
        x: left + (rank % box.columns) * spacing + spacing / 2,
        y: top + Math.floor(rank / box.columns) * spacing + spacing / 2,
      });
    });
    x += outerWidth;
    shelfHeight = Math.max(shelfHeight, box.height + 2 * box.margin);
  });
  return positions;
}

/** A mark on its way to a place of the fixed layout. */
export interface EasedMark extends Point {
  target?: Point;
}

/**
 * Moves each mark a quarter of the way to its target (snapping when under a tenth of a unit
 * away): a move eases over a few frames instead of jumping. Whether any mark is still moving.
 */
export function easeTowardTargets(marks: Iterable<EasedMark>, rate = 0.25): boolean {
  let moving = false;
  for (const mark of marks) {
    const target = mark.target;
    if (!target) continue;
    const dx = target.x - mark.x;
    const dy = target.y - mark.y;
    if (Math.abs(dx) < 0.1 && Math.abs(dy) < 0.1) {
      mark.x = target.x;
      mark.y = target.y;
      continue;
    }
    mark.x += dx * rate;
    mark.y += dy * rate;
    moving = true;
  }
  return moving;
}
