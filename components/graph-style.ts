/**
 * How the topology graph looks, in one table read by the canvas passes (`graph-draw/`) and by
 * the legend beside the canvas, so the legend cannot drift from what is drawn. Sizes are in
 * screen pixels: the passes divide them by the zoom scale, so lines and text keep their size
 * while the view zooms.
 */
import {
  symbolCircle,
  symbolCross,
  symbolDiamond,
  symbolSquare,
  symbolTriangle,
  symbolWye,
  type SymbolType,
} from 'd3';

import {
  STATE_STYLES,
  type GraphGroup,
  type GraphLink,
  type MarkShape,
  type MemberVisualState,
} from '@/lib/graph-model';

/** A colour that must differ between the light and the dark page to stay readable. */
export interface ThemedColour {
  light: string;
  dark: string;
}

/** A colour of the table: the same on both pages, or one for each. */
export type Colour = string | ThemedColour;

/** The colour to paint on a dark (or light) page. */
export function paint(colour: Colour, dark: boolean): string {
  if (typeof colour === 'string') return colour;
  return dark ? colour.dark : colour.light;
}

/** The page's text colour, so labels on the canvas read like the text around it. */
const INK: ThemedColour = { light: '#0f172a', dark: '#e2e8f0' };
/** Present but asking for no attention: agreed links, the ring of members outside the mesh. */
const FAINT: ThemedColour = { light: 'rgba(71,85,105,0.35)', dark: 'rgba(148,163,184,0.45)' };

const FONT_FAMILY = 'ui-sans-serif, system-ui, sans-serif';

/** A canvas font of `px` screen pixels at zoom scale `k`. */
export function fontAt(px: number, k: number): string {
  return `${px / k}px ${FONT_FAMILY}`;
}

/** How one kind of line is stroked. */
export interface LineStyle {
  stroke: Colour;
  /** Screen pixels. */
  width: number;
  /** Dash and gap lengths in screen pixels; empty for a solid line. */
  dash: readonly number[];
}

/** How one kind of link is stroked, and what the legend calls it. */
export interface LinkStyle extends LineStyle {
  label: string;
}

/**
 * Each link kind. Declared `as const` so that the legend, which draws the trouble kinds in
 * SVG outside the canvas, only compiles while their colours are the same on both pages.
 */
export const LINK_STYLES = {
  link: { stroke: FAINT, width: 1, dash: [], label: 'link' },
  asymmetric: { stroke: '#d97706', width: 1.5, dash: [6, 3], label: 'one-sided link' },
  missing: { stroke: '#dc2626', width: 1.5, dash: [2, 3], label: 'missing link' },
} as const satisfies Readonly<Record<GraphLink['kind'], LinkStyle>>;

/**
 * Traffic on an agreed link: the line widens and darkens with its packet rate (log scale, against
 * the busiest link's), so the links that carry the cluster's messages stand out from the ticks.
 */
export const TRAFFIC_STYLE = {
  stroke: { light: 'rgba(3,105,161,ALPHA)', dark: 'rgba(56,189,248,ALPHA)' },
  /** Screen pixels at no traffic and at the busiest link's. */
  width: { min: 1, max: 5 },
  alpha: { min: 0.35, max: 0.9 },
  label: 'traffic (wider: more packets/s)',
} as const;

/** The stroke of a link carrying traffic at `level` (0 to 1). */
export function trafficStroke(level: number, dark: boolean): { colour: string; width: number } {
  const alpha =
    TRAFFIC_STYLE.alpha.min + (TRAFFIC_STYLE.alpha.max - TRAFFIC_STYLE.alpha.min) * level;
  const template = dark ? TRAFFIC_STYLE.stroke.dark : TRAFFIC_STYLE.stroke.light;
  return {
    colour: template.replace('ALPHA', alpha.toFixed(2)),
    width: TRAFFIC_STYLE.width.min + (TRAFFIC_STYLE.width.max - TRAFFIC_STYLE.width.min) * level,
  };
}

/**
 * A busy link (its distribution port queued past the watermark): drawn over everything else,
 * thick, red and dashed so that it reads without colour too.
 */
export const BUSY_LINK_STYLE = {
  stroke: '#dc2626',
  width: 4,
  dash: [10, 4],
  label: 'busy link (send queue full)',
} as const satisfies LinkStyle;

/** The dashed ring around a partition (or the members outside the mesh), and its title. */
export const GROUP_STYLE = {
  // A partition's ring takes the colour its members are drawn in: green for the main one.
  stroke: {
    main: STATE_STYLES.clustered.color,
    partition: STATE_STYLES.unclustered.color,
    outside: FAINT,
  },
  width: 1.5,
  dash: [6, 4],
  /** Room between the outermost mark and the ring. */
  padding: 16,
  label: { colour: INK, size: 12, gap: 6 },
} as const;

/** The ring colour of a group. */
export function groupStroke(group: GraphGroup): Colour {
  if (group.kind === 'outside') return GROUP_STYLE.stroke.outside;
  return group.main ? GROUP_STYLE.stroke.main : GROUP_STYLE.stroke.partition;
}

/** Everything about a mark but its fill and shape, which come with its state. */
export const MARK_STYLE = {
  // The outline is the page's background: it keeps overlapping marks apart.
  outline: { colour: { light: '#ffffff', dark: '#0f172a' }, width: 1.5 },
  /** Below this radius on screen a mark is mostly outline, so it is only filled. */
  minOutlinedRadius: 2.5,
  selection: { colour: { light: '#0369a1', dark: '#38bdf8' }, width: 2.5, gap: 5 },
  /** `offset` is from the mark's edge to the label's baseline. */
  label: { colour: INK, size: 11, offset: 13 },
} as const;

/** d3's symbol for each mark shape (shared with the SVG legend). */
export const SYMBOL_TYPES: Readonly<Record<MarkShape, SymbolType>> = {
  circle: symbolCircle,
  triangle: symbolTriangle,
  cross: symbolCross,
  diamond: symbolDiamond,
  square: symbolSquare,
  wye: symbolWye,
};

/** A symbol's area for a mark of radius `r` (d3 sizes symbols by area). */
export function symbolArea(radius: number): number {
  return Math.PI * radius * radius * 1.1;
}

/** How a mark of a state is filled and shaped (looked up per batch of marks, per frame). */
export interface MarkFill {
  fill: string;
  symbol: SymbolType;
}

/** The fill and symbol of each state: the colours of `STATE_STYLES`, which the table shares. */
export const MARK_FILLS = Object.fromEntries(
  Object.entries(STATE_STYLES).map(([state, style]) => [
    state,
    { fill: style.color, symbol: SYMBOL_TYPES[style.shape] },
  ]),
) as Readonly<Record<MemberVisualState, MarkFill>>;
