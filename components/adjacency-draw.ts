/**
 * The adjacency view's drawing: where the matrix sits in its canvas, which cell is under a point,
 * the cells as one pixel each (scaled onto the canvas in one `drawImage`), and the passes drawn
 * over them at screen size — trouble cells (so one stays visible among millions), block outlines
 * and titles, the selected member's row and column.
 */
import { ADJACENCY_CELLS, type AdjacencyModel } from '@/lib/adjacency';

import {
  BLOCK_STYLE,
  blockStroke,
  CELL_STYLES,
  MIN_TROUBLE_CELL_PX,
  SELECTION_STYLE,
} from './adjacency-style';
import { fontAt, paint } from './graph-style';

/** Where the matrix is drawn: its top-left corner, side and one cell's side, in CSS pixels. */
export interface MatrixBox {
  x: number;
  y: number;
  side: number;
  cell: number;
}

/** Room above and left of the matrix for the block titles. */
const MARGIN = 22;

/** The largest square for `size` rows that fits a `width`×`height` canvas, centred across. */
export function matrixBox(width: number, height: number, size: number): MatrixBox {
  const side = Math.max(0, Math.min(width, height) - 2 * MARGIN);
  return {
    x: Math.max(MARGIN, (width - side) / 2),
    y: MARGIN,
    side,
    cell: size > 0 ? side / size : 0,
  };
}

/** The (row, column) under a point of the canvas, or null off the matrix. */
export function cellAt(
  box: MatrixBox,
  size: number,
  x: number,
  y: number,
): { row: number; col: number } | null {
  if (box.cell <= 0) return null;
  const col = Math.floor((x - box.x) / box.cell);
  const row = Math.floor((y - box.y) / box.cell);
  if (row < 0 || col < 0 || row >= size || col >= size) return null;
  return { row, col };
}

/**
 * The cells as pixels, one per cell, in the page's byte order: `rgba` packs a colour the way a
 * `Uint32Array` over `ImageData.data` reads it.
 */
export function cellPixels(
  model: AdjacencyModel,
  rgba: (colour: string) => number,
  dark: boolean,
  into?: Uint32Array<ArrayBuffer>,
): Uint32Array<ArrayBuffer> {
  const palette = ADJACENCY_CELLS.map((cell) => rgba(paint(CELL_STYLES[cell].fill, dark)));
  const pixels =
    into && into.length === model.cells.length ? into : new Uint32Array(model.cells.length);
  const { cells } = model;
  for (let index = 0; index < cells.length; index += 1) pixels[index] = palette[cells[index]!]!;
  return pixels;
}

/** Draws the trouble cells, block outlines and titles, and the selection over the cells. */
export function drawOverlays(
  context: CanvasRenderingContext2D,
  box: MatrixBox,
  model: AdjacencyModel,
  dark: boolean,
  selectedRow: number | null,
): void {
  const mark = Math.max(box.cell, MIN_TROUBLE_CELL_PX);
  const inset = (mark - box.cell) / 2;
  for (const kind of ['one-sided-in', 'one-sided-out', 'missing'] as const) {
    context.fillStyle = paint(CELL_STYLES[kind].fill, dark);
    context.beginPath();
    for (const cell of model.trouble) {
      if (cell.cell !== kind) continue;
      context.rect(
        box.x + cell.col * box.cell - inset,
        box.y + cell.row * box.cell - inset,
        mark,
        mark,
      );
    }
    context.fill();
  }

  context.lineWidth = BLOCK_STYLE.width;
  context.setLineDash(BLOCK_STYLE.dash);
  context.font = fontAt(BLOCK_STYLE.label.size, 1);
  context.textBaseline = 'bottom';
  for (const block of model.blocks) {
    const x = box.x + block.start * box.cell;
    const y = box.y + block.start * box.cell;
    const side = block.size * box.cell;
    context.strokeStyle = paint(blockStroke(block), dark);
    context.strokeRect(x, y, side, side);
    context.fillStyle = paint(BLOCK_STYLE.label.colour, dark);
    // Titles go above their block; a block low on the diagonal has room above it inside the box.
    context.fillText(block.label, Math.min(x, box.x + box.side - 160), y - 3);
  }
  context.setLineDash([]);

  if (selectedRow !== null) {
    context.strokeStyle = paint(SELECTION_STYLE.colour, dark);
    context.lineWidth = 1;
    const at = Math.max(box.cell, 1);
    context.strokeRect(box.x, box.y + selectedRow * box.cell, box.side, at);
    context.strokeRect(box.x + selectedRow * box.cell, box.y, at, box.side);
  }
}

/** Counts of the cells the legend names, per cell state (for the page and its tests). */
export function legendCounts(model: AdjacencyModel): Array<{ cell: string; count: number }> {
  return ADJACENCY_CELLS.filter((cell) => CELL_STYLES[cell].legend).map((cell) => ({
    cell,
    count: model.counts[cell],
  }));
}
