/**
 * The marks pass. Marks that look alike (same state, same stage of their entrance) go into one
 * path, filled and outlined once: per-mark fill/stroke/save/restore was most of a frame's cost
 * at a thousand members in software raster. Marks fading out and the selection ring are few,
 * and drawn one by one on top.
 */
import { MARK_FILLS, MARK_STYLE, paint, symbolArea } from '../graph-style';
import type { MemberVisualState } from '@/lib/graph-model';

import type { DrawFrame, PlacedMark } from './frame';
import { applyLabelStyle } from './labels';
import { entranceGrowth, entranceOpacity, exitProgress, isEntering, markScale } from './motion';

/** Marks drawn as one path: one state, one stage of their entrance. */
export interface MarkBatch {
  state: MemberVisualState;
  /** How far these marks have grown in (1: they have entered). */
  growth: number;
  marks: PlacedMark[];
}

/**
 * Sorts marks into batches that are drawn alike, and tells whether any is still entering (so
 * another frame is needed). Members that entered together share `bornAt`, so an entrance is
 * one batch per state too.
 */
export function markBatches(
  marks: Iterable<PlacedMark>,
  now: number,
): { batches: MarkBatch[]; entering: boolean } {
  const batches = new Map<string, MarkBatch>();
  let entering = false;
  for (const mark of marks) {
    const growing = isEntering(mark.bornAt, now);
    if (growing) entering = true;
    const id = growing ? `${mark.state}@${mark.bornAt}` : mark.state;
    let batch = batches.get(id);
    if (!batch) {
      batch = { state: mark.state, growth: entranceGrowth(mark.bornAt, now), marks: [] };
      batches.set(id, batch);
    }
    batch.marks.push(mark);
  }
  return { batches: [...batches.values()], entering };
}

/** Draws each batch as one filled path, outlined unless its marks are too small to show one. */
export function drawMarks({ context, symbols, k, dark }: DrawFrame, batches: MarkBatch[]): void {
  const { outline, minOutlinedRadius } = MARK_STYLE;
  for (const { state, growth, marks } of batches) {
    const { fill, symbol } = MARK_FILLS[state];
    const scale = markScale(growth);
    context.globalAlpha = entranceOpacity(growth);
    context.beginPath();
    let outlined = false;
    for (const mark of marks) {
      symbols.at(mark.x, mark.y);
      symbol.draw(symbols, symbolArea(mark.radius * scale));
      // Level of detail: at a few pixels across, an outline would be all the mark is.
      if (mark.radius * scale * k >= minOutlinedRadius) outlined = true;
    }
    context.fillStyle = fill;
    context.fill();
    if (outlined) {
      context.lineWidth = outline.width / k;
      context.strokeStyle = paint(outline.colour, dark);
      context.stroke();
    }
  }
  context.globalAlpha = 1;
}

/** Strokes the selection ring around a mark of radius `radius` centred at (`x`, `y`). */
function strokeSelection({ context, k, dark }: DrawFrame, x: number, y: number, radius: number) {
  const { selection } = MARK_STYLE;
  context.beginPath();
  context.arc(x, y, radius + selection.gap / k, 0, 2 * Math.PI);
  context.lineWidth = selection.width / k;
  context.strokeStyle = paint(selection.colour, dark);
  context.stroke();
}

/**
 * Draws marks that are fading out, each whole (outline, selection ring, label) as it grows and
 * fades, so a mark and its label leave together.
 */
export function drawLeavingMarks(
  frame: DrawFrame,
  marks: readonly PlacedMark[],
  selectedKey: string | null,
  withLabels: boolean,
): void {
  const { context, k, now, dark } = frame;
  const { outline, label } = MARK_STYLE;
  for (const mark of marks) {
    const t = exitProgress(mark.leftAt, now);
    const grow = 1 + 0.5 * t;
    const { fill, symbol } = MARK_FILLS[mark.state];
    context.save();
    context.globalAlpha = 1 - t;
    context.translate(mark.x, mark.y);
    context.beginPath();
    symbol.draw(context, symbolArea(mark.radius * grow));
    context.fillStyle = fill;
    context.fill();
    context.lineWidth = outline.width / k;
    context.strokeStyle = paint(outline.colour, dark);
    context.stroke();
    if (mark.key === selectedKey) strokeSelection(frame, 0, 0, mark.radius * grow);
    if (withLabels) {
      applyLabelStyle(frame);
      context.fillText(mark.label, 0, mark.radius * grow + label.offset / k);
    }
    context.restore();
  }
}

/** Draws the selection ring around the selected mark, growing in with it. */
export function drawSelection(frame: DrawFrame, selected: PlacedMark | undefined): void {
  if (!selected) return;
  const grow = markScale(entranceGrowth(selected.bornAt, frame.now));
  strokeSelection(frame, selected.x, selected.y, selected.radius * grow);
}
