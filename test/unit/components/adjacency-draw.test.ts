import { describe, expect, it } from 'vitest';

import { cellAt, cellPixels, legendCounts, matrixBox } from '@/components/adjacency-draw';
import { CELL_STYLES } from '@/components/adjacency-style';
import { LINK_STYLES, paint } from '@/components/graph-style';
import { ADJACENCY_CELLS, buildAdjacency, cellState } from '@/lib/adjacency';

import { fullMesh, ip, pod, side, n, stateOf } from '../lib/fixtures';

describe('the adjacency view’s drawing', () => {
  it('fits the largest square in the canvas, and finds the cell under a point', () => {
    const box = matrixBox(944, 444, 200);
    expect(box.side).toBe(400);
    expect(box.cell).toBe(2);
    expect(box.x).toBe(272);
    expect(cellAt(box, 200, box.x + 1, box.y + 1)).toEqual({ row: 0, col: 0 });
    expect(cellAt(box, 200, box.x + 2 * 7 + 1, box.y + 2 * 150 + 1)).toEqual({ row: 150, col: 7 });
    expect(cellAt(box, 200, box.x - 1, box.y + 1)).toBeNull();
    expect(cellAt(box, 200, box.x + 400, box.y + 1)).toBeNull();
  });

  it('paints each cell with its state’s colour, the trouble ones those of the graph’s links', () => {
    const model = buildAdjacency(
      stateOf(
        [1, 2, 3].map((i) => pod(ip(i))),
        [...fullMesh([1, 2]), side(n(3), [n(1)])],
      ),
    );
    const colours: string[] = [];
    const pixels = cellPixels(
      model,
      (colour) => {
        if (!colours.includes(colour)) colours.push(colour);
        return colours.indexOf(colour);
      },
      false,
    );
    for (let row = 0; row < model.size; row += 1) {
      for (let col = 0; col < model.size; col += 1) {
        const cell = cellState(model, row, col);
        expect(colours[pixels[row * model.size + col]!]).toBe(paint(CELL_STYLES[cell].fill, false));
      }
    }
    expect(CELL_STYLES['one-sided-out'].fill).toBe(LINK_STYLES.asymmetric.stroke);
    expect(CELL_STYLES.missing.fill).toBe(LINK_STYLES.missing.stroke);
    expect(legendCounts(model).map((entry) => entry.cell)).toEqual(
      ADJACENCY_CELLS.filter((cell) => cell !== 'self'),
    );
  });
});
