import { describe, expect, it } from 'vitest';

import {
  layoutBars,
  MAX_ROWS,
  nodeLabel,
  ROW_HEIGHT,
  valueMargin,
} from '@/components/registry-bars';
import type { RegistryBar } from '@/lib/registry-view';

const bar = (index: number, hosted: number | null, extra: Partial<RegistryBar> = {}) => ({
  node: `myapp@10.0.0.${index}`,
  partition: 0,
  main: true,
  hosted,
  count: 10_000,
  idle: hosted === 0,
  ...extra,
});

describe('layoutBars', () => {
  it('gives each node a row in node order, bars in proportion to what it hosts', () => {
    const bars = [bar(1, 1000), bar(2, 500), bar(3, 0)];
    const layout = layoutBars(bars, 500, 600, { label: 100, value: 100 });
    expect(layout.mode).toBe('rows');
    expect(layout.height).toBe(3 * ROW_HEIGHT);
    expect(layout.bars.map((placed) => placed.node)).toEqual(bars.map((entry) => entry.node));
    const [first, second, third] = layout.bars;
    // The busiest node reaches the right margin; the axis is 0 … busiest, not the registry's size.
    expect(first!.x).toBe(100);
    expect(first!.width).toBeCloseTo(400);
    expect(second!.width).toBeCloseTo(200);
    expect(third!.width).toBe(0);
    expect(layout.mean).toBeCloseTo(300);
    // Rows do not overlap, and each figure starts after its bar.
    expect(second!.y).toBeGreaterThanOrEqual(first!.y + first!.height);
    expect(first!.valueX).toBeGreaterThan(first!.x + first!.width);
  });

  it('draws nothing for a node that cannot count, and keeps an axis when nobody hosts anything', () => {
    const layout = layoutBars([bar(1, null), bar(2, 0)], null, 400);
    expect(layout.domainMax).toBe(1);
    expect(layout.bars.every((placed) => placed.width === 0)).toBe(true);
    expect(layout.mean).toBeNull();
  });

  it('turns past MAX_ROWS nodes into columns sorted by what they host, unknown last', () => {
    const bars = Array.from({ length: MAX_ROWS + 6 }, (_, index) =>
      bar(index + 1, index === 3 ? null : index * 10),
    );
    const layout = layoutBars(bars, 100, 300);
    expect(layout.mode).toBe('columns');
    const hosted = layout.bars.map((placed) => placed.hosted);
    expect(hosted[0]).toBe((MAX_ROWS + 5) * 10);
    expect(hosted[hosted.length - 1]).toBeNull();
    expect(hosted[hosted.length - 2]).toBe(0);
    // Left to right across the whole width, the busiest tallest.
    const xs = layout.bars.map((placed) => placed.x);
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    expect(layout.bars[0]!.height).toBeGreaterThan(layout.bars[1]!.height);
    expect(layout.bars.at(-1)!.x + layout.bars.at(-1)!.width).toBeLessThanOrEqual(300.5);
  });

  it('fits a thousand nodes in the width, columns touching', () => {
    const bars = Array.from({ length: 1000 }, (_, index) => bar(index, 10));
    const layout = layoutBars(bars, 10, 500);
    expect(layout.bars).toHaveLength(1000);
    expect(layout.bars[1]!.x - layout.bars[0]!.x).toBeCloseTo(0.5);
  });
});

describe('nodeLabel', () => {
  it('keeps a short name whole and cuts a long one', () => {
    expect(nodeLabel('myapp@10.0.0.12')).toBe('myapp@10.0.0.12');
    const long = nodeLabel('myapp@myapp-7d9f6b-x2kq.myapp-headless.default.svc');
    expect(long).toHaveLength(19);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('valueMargin', () => {
  it('keeps room for the longest figure and note, within bounds', () => {
    expect(valueMargin(['1,430', '1,428'], 600)).toBe(48);
    const note = '3,568 · partition 2 (main)';
    expect(valueMargin([note], 600)).toBeGreaterThan(note.length * 6);
    expect(valueMargin(['x'.repeat(200)], 600)).toBe(300);
  });
});
