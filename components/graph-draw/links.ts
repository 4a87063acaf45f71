/** The links pass: the distribution links between marks, styled by kind. */
import { BUSY_LINK_STYLE, LINK_STYLES, paint, trafficStroke } from '../graph-style';
import type { GraphLink } from '@/lib/graph-model';

import type { DrawFrame, PlacedLink } from './frame';

/** Link kinds in drawing order: trouble on top. */
const DRAWING_ORDER: readonly GraphLink['kind'][] = ['link', 'asymmetric', 'missing'];

/**
 * Draws every link, one canvas path per kind: a stroke per line made hundreds of missing links
 * cost a frame on their own.
 */
export function drawLinks(frame: DrawFrame, links: readonly PlacedLink[]): void {
  const { context, k, dark } = frame;
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
  drawTraffic(frame, links);
}

/**
 * Links with traffic, one stroke each (their width and strength differ; few carry any), then
 * busy links over everything.
 */
function drawTraffic({ context, k, dark }: DrawFrame, links: readonly PlacedLink[]): void {
  for (const link of links) {
    if (link.level <= 0 || link.busy || link.kind !== 'link') continue;
    const stroke = trafficStroke(link.level, dark);
    context.beginPath();
    context.moveTo(link.source.x, link.source.y);
    context.lineTo(link.target.x, link.target.y);
    context.strokeStyle = stroke.colour;
    context.lineWidth = stroke.width / k;
    context.stroke();
  }
  let busy = false;
  context.beginPath();
  for (const link of links) {
    if (!link.busy) continue;
    context.moveTo(link.source.x, link.source.y);
    context.lineTo(link.target.x, link.target.y);
    busy = true;
  }
  if (!busy) return;
  context.setLineDash(BUSY_LINK_STYLE.dash.map((length) => length / k));
  context.strokeStyle = BUSY_LINK_STYLE.stroke;
  context.lineWidth = BUSY_LINK_STYLE.width / k;
  context.stroke();
  context.setLineDash([]);
}
