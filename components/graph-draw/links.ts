/** The links pass: the distribution links between marks, styled by kind. */
import { LINK_STYLES, paint } from '../graph-style';
import type { GraphLink } from '@/lib/graph-model';

import type { DrawFrame, PlacedLink } from './frame';

/** Link kinds in drawing order: trouble on top. */
const DRAWING_ORDER: readonly GraphLink['kind'][] = ['link', 'asymmetric', 'missing'];

/**
 * Draws every link, one canvas path per kind: a stroke per line made hundreds of missing links
 * cost a frame on their own.
 */
export function drawLinks({ context, k, dark }: DrawFrame, links: readonly PlacedLink[]): void {
  for (const kind of DRAWING_ORDER) {
    let any = false;
    context.beginPath();
    for (const link of links) {
      if (link.kind !== kind) continue;
      context.moveTo(link.source.x, link.source.y);
      context.lineTo(link.target.x, link.target.y);
      any = true;
    }
    if (!any) continue;
    const style = LINK_STYLES[kind];
    context.setLineDash(style.dash.map((length) => length / k));
    context.strokeStyle = paint(style.stroke, dark);
    context.lineWidth = style.width / k;
    context.stroke();
  }
  context.setLineDash([]);
}
