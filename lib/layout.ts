/**
 * Pure layout inputs for the topology graph: where each group (partition) sits, where a new
 * mark starts, and the transform that fits the drawing into its box. The force simulation in
 * the browser starts from these; keeping them pure keeps the layout stable and testable.
 */
import type { GraphGroup, GraphNode } from './graph-model';

/** A point in layout space. */
export interface Point {
  x: number;
  y: number;
}

/**
 * The centre of each group. One group sits at the origin; several are spread on a circle whose
 * radius grows with the groups' sizes, so partitions are visibly apart. The main partition (or
 * the first) is placed first, members outside the mesh last.
 */
export function groupCenters(groups: readonly GraphGroup[]): Point[] {
  if (groups.length === 0) return [];
  if (groups.length === 1) return [{ x: 0, y: 0 }];
  // A group of n marks needs room of about sqrt(n): keep the biggest two clear of each other.
  const spans = groups.map((group) => 60 + 28 * Math.sqrt(group.size));
  const sorted = [...spans].sort((a, b) => b - a);
  const radius = Math.max(
    ((sorted[0] ?? 0) + (sorted[1] ?? 0)) * 0.75,
    (spans.reduce((sum, span) => sum + span, 0) * 1.2) / Math.PI,
  );
  return groups.map((_, index) => {
    // Start at the left, so two partitions sit side by side (wide screens).
    const angle = Math.PI + (2 * Math.PI * index) / groups.length;
    return { x: Math.round(radius * Math.cos(angle)), y: Math.round(radius * Math.sin(angle)) };
  });
}

/** A deterministic number in [0, 1) from a string: new marks start at a stable place. */
export function hashUnit(text: string): number {
  let hash = 2166136261;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 16777619);
  }
  return (hash >>> 0) / 4294967296;
}

/**
 * Where each mark starts: where it was (by id) when it was drawn before, else near its group's
 * centre at a stable angle. Existing marks never jump: that is what keeps the layout stable.
 */
export function seedPositions(
  nodes: readonly Pick<GraphNode, 'id' | 'group'>[],
  previous: ReadonlyMap<string, Point>,
  centers: readonly Point[],
): Map<string, Point> {
  const positions = new Map<string, Point>();
  for (const node of nodes) {
    const before = previous.get(node.id);
    if (before) {
      positions.set(node.id, { x: before.x, y: before.y });
      continue;
    }
    const center = centers[node.group] ?? { x: 0, y: 0 };
    const angle = 2 * Math.PI * hashUnit(node.id);
    const distance = 10 + 20 * hashUnit(`${node.id}#r`);
    positions.set(node.id, {
      x: center.x + distance * Math.cos(angle),
      y: center.y + distance * Math.sin(angle),
    });
  }
  return positions;
}

/** An axis-aligned box. */
export interface Bounds {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/** The box around circles (points with a radius), or null when there are none. */
export function boundsOf(points: Iterable<Point & { radius?: number }>): Bounds | null {
  let bounds: Bounds | null = null;
  for (const point of points) {
    const r = point.radius ?? 0;
    if (!bounds) {
      bounds = { minX: point.x - r, minY: point.y - r, maxX: point.x + r, maxY: point.y + r };
    } else {
      bounds.minX = Math.min(bounds.minX, point.x - r);
      bounds.minY = Math.min(bounds.minY, point.y - r);
      bounds.maxX = Math.max(bounds.maxX, point.x + r);
      bounds.maxY = Math.max(bounds.maxY, point.y + r);
    }
  }
  return bounds;
}

/** A zoom transform: screen = layout × k + (x, y). */
export interface ViewTransform {
  k: number;
  x: number;
  y: number;
}

/**
 * The transform that shows `bounds` centred in a `width`×`height` box with `padding` around,
 * never zooming in past `maxScale` (three marks should not fill a wall).
 */
export function fitTransform(
  bounds: Bounds | null,
  width: number,
  height: number,
  padding = 40,
  maxScale = 2,
): ViewTransform {
  if (!bounds || width <= 0 || height <= 0) return { k: 1, x: width / 2, y: height / 2 };
  const spanX = Math.max(1, bounds.maxX - bounds.minX);
  const spanY = Math.max(1, bounds.maxY - bounds.minY);
  const k = Math.min(
    maxScale,
    Math.max(0.05, Math.min((width - 2 * padding) / spanX, (height - 2 * padding) / spanY)),
  );
  const centerX = (bounds.minX + bounds.maxX) / 2;
  const centerY = (bounds.minY + bounds.maxY) / 2;
  return { k, x: width / 2 - centerX * k, y: height / 2 - centerY * k };
}
