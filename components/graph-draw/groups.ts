/** The groups pass: a dashed ring around each partition and around the members outside the mesh. */
import { fontAt, GROUP_STYLE, groupStroke, paint } from '../graph-style';
import type { GraphGroup } from '@/lib/graph-model';

import type { DrawFrame, PlacedMark } from './frame';

/** The ring around one group's marks. */
export interface GroupRing {
  group: GraphGroup;
  cx: number;
  cy: number;
  r: number;
}

/** Whether rings tell anything: one mesh holding every member needs none. */
export function showsGroupRings(groups: readonly GraphGroup[]): boolean {
  return groups.length > 1 || groups[0]?.kind === 'outside';
}

/**
 * The ring of each group that has marks: centred on their mean, clear of the farthest mark by
 * the style's padding. In the order each group's first mark comes, which is the drawing order.
 */
export function groupRings(
  marks: Iterable<Pick<PlacedMark, 'x' | 'y' | 'radius' | 'group'>>,
  groups: readonly GraphGroup[],
): GroupRing[] {
  const byGroup = new Map<number, Pick<PlacedMark, 'x' | 'y' | 'radius'>[]>();
  for (const mark of marks) {
    const list = byGroup.get(mark.group) ?? [];
    list.push(mark);
    byGroup.set(mark.group, list);
  }
  const rings: GroupRing[] = [];
  for (const [index, members] of byGroup) {
    const group = groups[index];
    if (!group) continue;
    const cx = members.reduce((sum, mark) => sum + mark.x, 0) / members.length;
    const cy = members.reduce((sum, mark) => sum + mark.y, 0) / members.length;
    const r =
      members.reduce(
        (max, mark) => Math.max(max, Math.hypot(mark.x - cx, mark.y - cy) + mark.radius),
        0,
      ) + GROUP_STYLE.padding;
    rings.push({ group, cx, cy, r });
  }
  return rings;
}

/** Draws each ring with its group's title above it. */
export function drawGroups({ context, k, dark }: DrawFrame, rings: readonly GroupRing[]): void {
  const { label } = GROUP_STYLE;
  context.font = fontAt(label.size, k);
  for (const { group, cx, cy, r } of rings) {
    context.beginPath();
    context.arc(cx, cy, r, 0, 2 * Math.PI);
    context.setLineDash(GROUP_STYLE.dash.map((length) => length / k));
    context.lineWidth = GROUP_STYLE.width / k;
    context.strokeStyle = paint(groupStroke(group), dark);
    context.stroke();
    context.setLineDash([]);
    context.fillStyle = paint(label.colour, dark);
    context.textAlign = 'center';
    context.fillText(group.label, cx, cy - r - label.gap / k);
  }
}
