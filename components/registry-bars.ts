/**
 * The geometry of a registry's bars: d3 scales place them, React draws them (`RegistryBars`).
 * Up to {@link MAX_ROWS} nodes, one labelled row per node in node order; past that, one column
 * per node sorted by what it hosts, so a thousand nodes read as a silhouette (the skew, the idle
 * tail) and the table beside it holds the figures.
 */
import { scaleBand, scaleLinear } from 'd3';

import type { RegistryBar } from '@/lib/registry-view';

/** Height of one node's row. */
export const ROW_HEIGHT = 22;
/** Past this many nodes the bars become columns. */
export const MAX_ROWS = 24;
/** Height of the columns' chart. */
export const COLUMNS_HEIGHT = 96;

/** One node's bar, placed. `valueX` is where its figure starts (rows only). */
export interface PlacedBar extends RegistryBar {
  x: number;
  y: number;
  width: number;
  height: number;
  valueX: number;
  /** The middle of the row, for its label and figure. */
  middle: number;
}

/** Everything `RegistryBars` draws. */
export interface BarLayout {
  mode: 'rows' | 'columns';
  width: number;
  height: number;
  /** The largest value on the axis (the busiest node, at least 1). */
  domainMax: number;
  /** Where the mean hosted falls: an x in rows, a y in columns; null when unknown. */
  mean: number | null;
  /** The baseline: left edge of the rows' bars, or the columns' bottom. */
  base: number;
  bars: PlacedBar[];
}

/** Room the rows keep for the node name, left, and for the figure and its note, right. */
export interface BarMargins {
  label: number;
  value: number;
}

const DEFAULT_MARGINS: BarMargins = { label: 128, value: 64 };

/** About how wide one character of the 11 px figures and notes is. */
const CHAR_WIDTH = 6.4;

/**
 * Room for the figure and note after the longest bar: the longest text's estimated width, at
 * least enough for a figure, at most `maxShare` of the chart — so a note never runs off the edge
 * and a chart without notes does not keep an empty margin.
 */
export function valueMargin(texts: readonly string[], width: number, maxShare = 0.5): number {
  const longest = texts.reduce((max, text) => Math.max(max, text.length), 0);
  return Math.round(Math.min(width * maxShare, Math.max(48, longest * CHAR_WIDTH + 12)));
}

function byHostedDescending(a: RegistryBar, b: RegistryBar): number {
  if (a.hosted === null || b.hosted === null) return a.hosted === b.hosted ? 0 : a.hosted ? -1 : 1;
  return b.hosted - a.hosted;
}

/**
 * Lays out `bars` in a chart `width` wide. The axis runs from 0 to the busiest node, not to the
 * registry's total: what matters is how the nodes compare, and the mean's line shows an even share.
 */
export function layoutBars(
  bars: readonly RegistryBar[],
  mean: number | null,
  width: number,
  margins: BarMargins = DEFAULT_MARGINS,
): BarLayout {
  const domainMax = Math.max(1, ...bars.map((bar) => bar.hosted ?? 0));
  if (bars.length <= MAX_ROWS) {
    const height = Math.max(1, bars.length) * ROW_HEIGHT;
    const y = scaleBand<string>()
      .domain(bars.map((bar) => bar.node))
      .range([0, height])
      .paddingInner(0.3)
      .paddingOuter(0.15);
    const right = Math.max(margins.label + 20, width - margins.value);
    const x = scaleLinear().domain([0, domainMax]).range([margins.label, right]);
    return {
      mode: 'rows',
      width,
      height,
      domainMax,
      mean: mean === null ? null : x(mean),
      base: margins.label,
      bars: bars.map((bar) => {
        const top = y(bar.node)!;
        const end = x(bar.hosted ?? 0);
        return {
          ...bar,
          x: margins.label,
          y: top,
          width: end - margins.label,
          height: y.bandwidth(),
          valueX: end + 5,
          middle: top + y.bandwidth() / 2,
        };
      }),
    };
  }
  const height = COLUMNS_HEIGHT;
  const base = height - 6;
  const sorted = [...bars].sort(byHostedDescending);
  const x = scaleBand<string>()
    .domain(sorted.map((bar) => bar.node))
    .range([0, width]);
  // Gaps only where columns are wide enough to keep them; a thousand columns touch.
  x.padding(x.bandwidth() > 4 ? 0.15 : 0);
  const y = scaleLinear().domain([0, domainMax]).range([base, 4]);
  return {
    mode: 'columns',
    width,
    height,
    domainMax,
    mean: mean === null ? null : y(mean),
    base,
    bars: sorted.map((bar) => {
      const top = y(bar.hosted ?? 0);
      return {
        ...bar,
        x: x(bar.node)!,
        y: top,
        width: Math.max(x.bandwidth(), 0.5),
        height: base - top,
        valueX: 0,
        middle: (top + base) / 2,
      };
    }),
  };
}

/** A node's name as a bar's label: whole up to `max` characters, else cut with an ellipsis. */
export function nodeLabel(node: string, max = 19): string {
  return node.length <= max ? node : `${node.slice(0, max - 1)}…`;
}
