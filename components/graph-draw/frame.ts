/** What the drawing passes share: the marks and links as laid out, and the frame they draw into. */
import type { GraphLink, GraphNode } from '@/lib/graph-model';
import type { ViewTransform } from '@/lib/layout';

import type { OffsetPath } from './offset-path';

/** A mark where the layout has put it, with the times of its entrance and exit. */
export interface PlacedMark extends GraphNode {
  x: number;
  y: number;
  bornAt: number;
  /** When it left the model (it is fading out), else null. */
  leftAt: number | null;
}

/** A link between two placed marks. */
export interface PlacedLink {
  kind: GraphLink['kind'];
  /** Traffic against the busiest link's, 0 to 1: drawn as width and strength. */
  level: number;
  /** An end's distribution port queue is past its watermark. */
  busy: boolean;
  source: PlacedMark;
  target: PlacedMark;
}

/** The frame being drawn, as every pass needs it. */
export interface DrawFrame {
  context: CanvasRenderingContext2D;
  /** Draws d3 symbols into `context` at a point (many marks in one path). */
  symbols: OffsetPath;
  /** The zoom scale: the style table's screen pixels are divided by it. */
  k: number;
  now: number;
  dark: boolean;
}

/**
 * Clears the canvas and sets the view's transform, scaled by the device pixel `ratio` so that
 * passes draw in layout units and come out sharp on high-density screens.
 */
export function clearFrame(
  context: CanvasRenderingContext2D,
  width: number,
  height: number,
  ratio: number,
  { k, x, y }: ViewTransform,
): void {
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  context.setTransform(ratio * k, 0, 0, ratio * k, ratio * x, ratio * y);
}
