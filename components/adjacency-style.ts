/**
 * How the adjacency view paints each cell and block, taken from the graph's style table
 * (`graph-style.ts`) so that a one-sided or missing link has one colour on every view, and a
 * partition's outline the colour of its ring in the graph.
 */
import type { AdjacencyBlock, AdjacencyCell } from '@/lib/adjacency';

import {
  GROUP_STYLE,
  LINK_STYLES,
  MARK_STYLE,
  type Colour,
  type ThemedColour,
} from './graph-style';

/** How one kind of cell is painted, and what the legend calls it. */
export interface CellStyle {
  fill: Colour;
  label: string;
  /** Shown in the legend (the diagonal and unknown cells need no entry of their own). */
  legend: boolean;
}

/** A colour at a lower opacity (on both pages); `#rrggbb` only, as the style table's trouble colours are. */
function faded(hex: string, alpha: number): string {
  const value = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(value >> 16) & 255},${(value >> 8) & 255},${value & 255},${alpha})`;
}

const PRESENT: ThemedColour = { light: 'rgba(71,85,105,0.55)', dark: 'rgba(148,163,184,0.6)' };

/** Each cell state's paint. */
export const CELL_STYLES: Readonly<Record<AdjacencyCell, CellStyle>> = {
  self: { fill: MARK_STYLE.label.colour, label: 'the member itself', legend: false },
  link: { fill: PRESENT, label: 'connected', legend: true },
  'one-sided-out': {
    fill: LINK_STYLES.asymmetric.stroke,
    label: `${LINK_STYLES.asymmetric.label} (row lists column)`,
    legend: true,
  },
  'one-sided-in': {
    fill: faded(LINK_STYLES.asymmetric.stroke, 0.7),
    label: `${LINK_STYLES.asymmetric.label} (column lists row)`,
    legend: true,
  },
  missing: { fill: LINK_STYLES.missing.stroke, label: LINK_STYLES.missing.label, legend: true },
  split: {
    fill: faded(LINK_STYLES.missing.stroke, 0.14),
    label: 'across partitions',
    legend: true,
  },
  unknown: { fill: 'rgba(0,0,0,0)', label: 'peers unknown', legend: true },
};

/** A block's outline along the diagonal: the colour of its partition's ring in the graph. */
export function blockStroke(block: Pick<AdjacencyBlock, 'kind' | 'main'>): Colour {
  if (block.kind === 'outside') return GROUP_STYLE.stroke.outside;
  return block.main ? GROUP_STYLE.stroke.main : GROUP_STYLE.stroke.partition;
}

/** Outline width and dash of a block (screen pixels), and the smallest drawn trouble cell. */
export const BLOCK_STYLE = {
  width: GROUP_STYLE.width,
  dash: GROUP_STYLE.dash,
  label: GROUP_STYLE.label,
} as const;

/** A trouble cell is drawn at least this many pixels wide, so one stays visible among 2,000². */
export const MIN_TROUBLE_CELL_PX = 2;

/** The selected member's row and column. */
export const SELECTION_STYLE = MARK_STYLE.selection;
