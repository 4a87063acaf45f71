import {
  symbolCircle,
  symbolCross,
  symbolDiamond,
  symbolSquare,
  symbolTriangle,
  symbolWye,
} from 'd3';
import { describe, expect, it } from 'vitest';

import type { DrawFrame, PlacedLink, PlacedMark } from '@/components/graph-draw/frame';
import { groupRings, showsGroupRings } from '@/components/graph-draw/groups';
import { showsLabels } from '@/components/graph-draw/labels';
import { drawLinks } from '@/components/graph-draw/links';
import { drawMarks, markBatches } from '@/components/graph-draw/marks';
import {
  ENTER_MS,
  entranceGrowth,
  exitProgress,
  isEntering,
  LEAVE_MS,
  stillLeaving,
} from '@/components/graph-draw/motion';
import { OffsetPath, type SymbolContext } from '@/components/graph-draw/offset-path';
import { GROUP_STYLE } from '@/components/graph-style';
import type { GraphGroup, MemberVisualState } from '@/lib/graph-model';

type Call = [string, ...unknown[]];

/** A 2D context that records each call and property set, in order. */
function recordingContext(): { context: CanvasRenderingContext2D; calls: Call[] } {
  const calls: Call[] = [];
  const context = new Proxy(
    {},
    {
      get:
        (_, name) =>
        (...args: unknown[]) =>
          calls.push([String(name), ...args]),
      set: (_, name, value) => {
        calls.push([`${String(name)}=`, value]);
        return true;
      },
    },
  ) as CanvasRenderingContext2D;
  return { context, calls };
}

function frameOf(context: CanvasRenderingContext2D, k = 1, now = 10_000): DrawFrame {
  return { context, symbols: new OffsetPath(context), k, now, dark: false };
}

function mark(id: string, overrides: Partial<PlacedMark> = {}): PlacedMark {
  return {
    id,
    key: id,
    label: id,
    node: id,
    state: 'clustered',
    hosted: 0,
    radius: 8,
    group: 0,
    x: 0,
    y: 0,
    bornAt: 0,
    leftAt: null,
    ...overrides,
  };
}

const group = (kind: GraphGroup['kind'], main = false): GraphGroup => ({
  id: kind,
  label: kind,
  kind,
  size: 1,
  main,
});

describe('motion', () => {
  it('grows a mark in from nothing to full size over ENTER_MS, fast at first', () => {
    expect(entranceGrowth(1000, 1000)).toBe(0);
    expect(entranceGrowth(1000, 1000 + ENTER_MS / 2)).toBeGreaterThan(0.5);
    expect(entranceGrowth(1000, 1000 + ENTER_MS)).toBe(1);
    // A clock that reads earlier than the birth (a frame stamped before the update) is no shrink.
    expect(entranceGrowth(1000, 900)).toBe(0);
    expect(isEntering(1000, 1000 + ENTER_MS - 1)).toBe(true);
    expect(isEntering(1000, 1000 + ENTER_MS)).toBe(false);
  });

  it('keeps a gone mark for LEAVE_MS, fading from 0 to 1', () => {
    const marks = [{ leftAt: 0 }, { leftAt: 500 }, { leftAt: null }];
    expect(stillLeaving(marks, LEAVE_MS)).toEqual([{ leftAt: 500 }, { leftAt: null }]);
    expect(exitProgress(0, LEAVE_MS / 3)).toBeCloseTo(1 / 3);
    expect(exitProgress(null, 123)).toBe(0);
  });
});

describe('groupRings', () => {
  it('draws rings only when there is more than one mesh, or members outside it', () => {
    expect(showsGroupRings([])).toBe(false);
    expect(showsGroupRings([group('partition', true)])).toBe(false);
    expect(showsGroupRings([group('outside')])).toBe(true);
    expect(showsGroupRings([group('partition', true), group('partition')])).toBe(true);
  });

  it('encloses every mark of its group with the padding to spare, in order of first mark', () => {
    const marks = [
      mark('b1', { group: 1, x: 100, y: 0, radius: 4 }),
      mark('a1', { group: 0, x: -10, y: 0, radius: 8 }),
      mark('a2', { group: 0, x: 10, y: 0, radius: 3 }),
      mark('b2', { group: 1, x: 140, y: 30, radius: 6 }),
      mark('lost', { group: 7, x: 0, y: 0 }),
    ];
    const rings = groupRings(marks, [group('partition', true), group('partition')]);
    expect(rings.map((ring) => ring.group.kind + String(ring.group.main))).toEqual([
      'partitionfalse',
      'partitiontrue',
    ]);
    const [b, a] = rings;
    expect(a).toMatchObject({ cx: 0, cy: 0, r: 18 + GROUP_STYLE.padding });
    for (const m of marks.filter((m) => m.group === 1)) {
      const reach = Math.hypot(m.x - b!.cx, m.y - b!.cy) + m.radius;
      expect(reach).toBeLessThanOrEqual(b!.r - GROUP_STYLE.padding + 1e-9);
    }
  });
});

describe('markBatches', () => {
  it('puts every settled mark of one state into one batch, whatever their number', () => {
    const states: MemberVisualState[] = ['clustered', 'unreachable'];
    const marks = Array.from({ length: 1000 }, (_, i) => mark(`m${i}`, { state: states[i % 2]! }));
    const { batches, entering } = markBatches(marks, ENTER_MS * 10);
    expect(entering).toBe(false);
    expect(batches.map((batch) => [batch.state, batch.growth, batch.marks.length])).toEqual([
      ['clustered', 1, 500],
      ['unreachable', 1, 500],
    ]);
  });

  it('batches entering marks by state and birth, apart from settled ones', () => {
    const now = 5000;
    const marks = [
      mark('old'),
      mark('new1', { bornAt: now - 100 }),
      mark('new2', { bornAt: now - 100 }),
      mark('newer', { bornAt: now - 50 }),
      mark('new-ghost', { bornAt: now - 100, state: 'ghost' }),
    ];
    const { batches, entering } = markBatches(marks, now);
    expect(entering).toBe(true);
    expect(batches.map((batch) => batch.marks.map((m) => m.id))).toEqual([
      ['old'],
      ['new1', 'new2'],
      ['newer'],
      ['new-ghost'],
    ]);
    expect(batches[1]!.growth).toBe(entranceGrowth(now - 100, now));
  });
});

describe('drawing passes', () => {
  const count = (calls: Call[], name: string) => calls.filter(([call]) => call === name).length;

  it('strokes all links of a kind as one path, trouble last, dashes at screen size', () => {
    const { context, calls } = recordingContext();
    const [a, b, c] = [mark('a'), mark('b', { x: 10 }), mark('c', { y: 10 })];
    const links: PlacedLink[] = [
      { kind: 'missing', source: a, target: b, level: 0, busy: false },
      { kind: 'link', source: a, target: c, level: 0, busy: false },
      { kind: 'link', source: b, target: c, level: 0, busy: false },
      { kind: 'missing', source: b, target: a, level: 0, busy: false },
    ];
    drawLinks(frameOf(context, 2), links);
    expect(count(calls, 'stroke')).toBe(2);
    expect(count(calls, 'lineTo')).toBe(4);
    const styles = calls.filter(([call]) => call === 'strokeStyle=' || call === 'setLineDash');
    expect(styles.slice(-3)).toEqual([
      ['setLineDash', [1, 1.5]],
      ['strokeStyle=', '#dc2626'],
      ['setLineDash', []],
    ]);
  });

  it('widens a link with its traffic, and draws busy links last, red and dashed', () => {
    const { context, calls } = recordingContext();
    const [a, b, c] = [mark('a'), mark('b', { x: 10 }), mark('c', { y: 10 })];
    const links: PlacedLink[] = [
      { kind: 'link', source: a, target: b, level: 0, busy: false },
      { kind: 'link', source: a, target: c, level: 0.5, busy: false },
      { kind: 'link', source: b, target: c, level: 1, busy: true },
    ];
    drawLinks(frameOf(context, 2), links);
    // The faint pass for every agreed link, one stroke for the trafficked one, one for the busy.
    expect(count(calls, 'stroke')).toBe(3);
    const widths = calls.filter(([call]) => call === 'lineWidth=').map(([, width]) => width);
    expect(widths).toEqual([0.5, 1.5, 2]);
    const styles = calls.filter(([call]) => call === 'strokeStyle=' || call === 'setLineDash');
    expect(styles.slice(-3)).toEqual([
      ['setLineDash', [5, 2]],
      ['strokeStyle=', '#dc2626'],
      ['setLineDash', []],
    ]);
  });

  it('fills a thousand marks of one state once, and outlines them only when big enough', () => {
    const marks = Array.from({ length: 1000 }, (_, i) => mark(`m${i}`, { radius: 3, x: i }));
    const { batches } = markBatches(marks, ENTER_MS * 10);
    const far = recordingContext();
    drawMarks(frameOf(far.context, 0.5), batches);
    expect([count(far.calls, 'fill'), count(far.calls, 'stroke')]).toEqual([1, 0]);
    const near = recordingContext();
    drawMarks(frameOf(near.context, 4), batches);
    expect([count(near.calls, 'fill'), count(near.calls, 'stroke')]).toEqual([1, 1]);
  });

  it('labels few marks, and only zoomed in enough to read them', () => {
    expect(showsLabels(40, 0.5)).toBe(true);
    expect(showsLabels(41, 1)).toBe(false);
    expect(showsLabels(10, 0.4)).toBe(false);
  });
});

describe('OffsetPath', () => {
  function recorder(): SymbolContext & { calls: Call[] } {
    const calls: Call[] = [];
    const record =
      (name: string) =>
      (...args: unknown[]) =>
        calls.push([name, ...args]);
    return {
      calls,
      moveTo: record('moveTo'),
      lineTo: record('lineTo'),
      arc: record('arc'),
      arcTo: record('arcTo'),
      bezierCurveTo: record('bezierCurveTo'),
      quadraticCurveTo: record('quadraticCurveTo'),
      ellipse: record('ellipse'),
      rect: record('rect'),
      closePath: record('closePath'),
    };
  }

  /** How many leading arguments of each path call are coordinates (x, y pairs). */
  const COORDINATES: Record<string, number> = {
    moveTo: 2,
    lineTo: 2,
    arc: 2,
    arcTo: 4,
    bezierCurveTo: 6,
    quadraticCurveTo: 4,
    ellipse: 2,
    rect: 2,
  };

  it('draws each d3 symbol at the point given, as if translated there', () => {
    for (const type of [
      symbolCircle,
      symbolCross,
      symbolDiamond,
      symbolSquare,
      symbolTriangle,
      symbolWye,
    ]) {
      const plain = recorder();
      type.draw(plain, 100);
      const sink = recorder();
      const offset = new OffsetPath(sink);
      offset.at(30, -7);
      type.draw(offset, 100);
      const shifted = plain.calls.map(([name, ...args]): Call => {
        const points = COORDINATES[name] ?? 0;
        const moved = args.map((value, index) =>
          index < points ? (value as number) + (index % 2 === 0 ? 30 : -7) : value,
        );
        return [name, ...moved];
      });
      // The sink passes an omitted `ccw` on as undefined, which a canvas reads as false.
      const trimmed = sink.calls.map((call) => call.filter((arg) => arg !== undefined) as Call);
      expect(trimmed).toEqual(shifted);
    }
  });
});
