/** The labels pass: each mark's name under it, while there are few enough marks to read them. */
import { fontAt, MARK_STYLE, paint } from '../graph-style';
import type { DrawFrame, PlacedMark } from './frame';
import { entranceGrowth, entranceOpacity, markScale } from './motion';

/** Past this many marks names would overlap into a smudge, so none is drawn. */
export const MAX_LABELLED_MARKS = 40;

/** Whether marks carry their names: few enough of them, and not zoomed out past half size. */
export function showsLabels(markCount: number, k: number): boolean {
  return markCount <= MAX_LABELLED_MARKS && k >= 0.5;
}

/** Sets the fill, alignment and font of mark labels. */
export function applyLabelStyle({ context, k, dark }: DrawFrame): void {
  const { label } = MARK_STYLE;
  context.fillStyle = paint(label.colour, dark);
  context.textAlign = 'center';
  context.font = fontAt(label.size, k);
}

/** Draws the name under each mark, growing in with it. */
export function drawLabels(frame: DrawFrame, marks: Iterable<PlacedMark>): void {
  const { context, k, now } = frame;
  const offset = MARK_STYLE.label.offset;
  applyLabelStyle(frame);
  for (const mark of marks) {
    const grow = markScale(entranceGrowth(mark.bornAt, now));
    context.globalAlpha = entranceOpacity(grow);
    context.fillText(mark.label, mark.x, mark.y + mark.radius * grow + offset / k);
  }
  context.globalAlpha = 1;
}
