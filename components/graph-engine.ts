'use client';

import {
  drag,
  forceCollide,
  forceLink,
  forceManyBody,
  forceSimulation,
  forceX,
  forceY,
  pointer,
  select,
  symbol,
  symbolCircle,
  symbolCross,
  symbolDiamond,
  symbolSquare,
  symbolTriangle,
  symbolWye,
  zoom,
  zoomIdentity,
  type D3DragEvent,
  type ForceLink,
  type Simulation,
  type SimulationLinkDatum,
  type SimulationNodeDatum,
  type SymbolType,
  type ZoomBehavior,
  type ZoomTransform,
} from 'd3';

import { boundsOf, fitTransform, groupCenters, seedPositions, type Point } from '@/lib/layout';
import {
  STATE_STYLES,
  type GraphGroup,
  type GraphLink,
  type GraphModel,
  type GraphNode,
  type MarkShape,
} from '@/lib/topology';

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

interface SimNode extends SimulationNodeDatum, GraphNode {
  x: number;
  y: number;
  bornAt: number;
  leftAt: number | null;
}

interface SimLink extends SimulationLinkDatum<SimNode> {
  id: string;
  kind: GraphLink['kind'];
  source: SimNode;
  target: SimNode;
}

const ENTER_MS = 600;
const LEAVE_MS = 900;

function easeOut(t: number): number {
  return 1 - (1 - t) ** 3;
}

/** What the engine tells the React side. */
export interface GraphEngineCallbacks {
  /** A mark was clicked (its member key), or the background (null). */
  onSelect(key: string | null): void;
  /** The user moved the view (so auto-fit stopped), or the view was reset. */
  onViewMoved(moved: boolean): void;
}

/**
 * The d3 side of the topology graph. It owns one `<canvas>` and nothing else: a force layout
 * (d3-force) whose marks keep their positions by id across updates, pan/zoom (d3-zoom), drag
 * and click. React hands it models; it never touches the rest of the page.
 */
export class GraphEngine {
  private readonly context: CanvasRenderingContext2D;
  private readonly simulation: Simulation<SimNode, SimLink>;
  private readonly linkForce: ForceLink<SimNode, SimLink>;
  private readonly zoomBehavior: ZoomBehavior<HTMLCanvasElement, unknown>;
  private readonly resizeObserver: ResizeObserver;
  private nodes = new Map<string, SimNode>();
  private leaving: SimNode[] = [];
  private links: SimLink[] = [];
  private groups: GraphGroup[] = [];
  private centers: Point[] = [];
  private mode: GraphModel['mode'] = 'links';
  private transform: ZoomTransform = zoomIdentity;
  private userMoved = false;
  private selectedKey: string | null = null;
  private frame: number | null = null;
  private width = 0;
  private height = 0;
  private destroyed = false;
  /** Bumped at every update: a frame scheduled for an older model draws the newer one. */
  private generation = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly callbacks: GraphEngineCallbacks,
  ) {
    const context = canvas.getContext('2d');
    if (!context) throw new Error('this browser has no 2D canvas');
    this.context = context;
    this.linkForce = forceLink<SimNode, SimLink>([])
      .id((node) => node.id)
      .distance(110)
      .strength((link) => (link.kind === 'link' ? 0.15 : 0));
    this.simulation = forceSimulation<SimNode, SimLink>([])
      .force('link', this.linkForce)
      .force(
        'charge',
        forceManyBody<SimNode>()
          .strength(() => (this.mode === 'links' ? -120 : -8))
          .distanceMax(250),
      )
      .force(
        'collide',
        // Labelled marks (small clusters) need room for their label under them.
        forceCollide<SimNode>((node) => node.radius + (this.nodes.size <= 40 ? 22 : 2)),
      )
      .force('x', forceX<SimNode>((node) => this.centers[node.group]?.x ?? 0).strength(0.12))
      .force('y', forceY<SimNode>((node) => this.centers[node.group]?.y ?? 0).strength(0.12))
      .alphaDecay(0.05)
      .on('tick', () => this.requestDraw());

    this.zoomBehavior = zoom<HTMLCanvasElement, unknown>()
      .scaleExtent([0.05, 8])
      .on('zoom', (event: { transform: ZoomTransform; sourceEvent: unknown }) => {
        this.transform = event.transform;
        // Only a gesture (it has a source event) stops auto-fit; our own fits have none.
        if (event.sourceEvent && !this.userMoved) {
          this.userMoved = true;
          this.callbacks.onViewMoved(true);
        }
        this.requestDraw();
      });
    const dragBehavior = drag<HTMLCanvasElement, unknown, { node: SimNode; x: number; y: number }>()
      .subject((event: { x: number; y: number }) => {
        const node = this.find(event.x, event.y);
        return node
          ? { node, x: this.transform.applyX(node.x), y: this.transform.applyY(node.y) }
          : // d3-drag ignores a press without a subject (the zoom pans instead); its types say otherwise.
            (undefined as unknown as { node: SimNode; x: number; y: number });
      })
      .on('start', (event: D3DragEvent<HTMLCanvasElement, unknown, { node: SimNode }>) => {
        if (!event.active) this.simulation.alphaTarget(0.2).restart();
        event.subject.node.fx = event.subject.node.x;
        event.subject.node.fy = event.subject.node.y;
      })
      .on('drag', (event: D3DragEvent<HTMLCanvasElement, unknown, { node: SimNode }>) => {
        event.subject.node.fx = this.transform.invertX(event.x);
        event.subject.node.fy = this.transform.invertY(event.y);
        if (!this.userMoved) {
          this.userMoved = true;
          this.callbacks.onViewMoved(true);
        }
      })
      .on('end', (event: D3DragEvent<HTMLCanvasElement, unknown, { node: SimNode }>) => {
        if (!event.active) this.simulation.alphaTarget(0);
        event.subject.node.fx = null;
        event.subject.node.fy = null;
      });
    // Drag first: it claims a press on a mark, and zoom (pan) gets the rest.
    select(canvas).call(dragBehavior).call(this.zoomBehavior).on('dblclick.zoom', null);
    canvas.addEventListener('click', this.onClick);
    canvas.addEventListener('pointermove', this.onPointerMove);
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(canvas);
    this.resize();
  }

  private readonly onClick = (event: MouseEvent) => {
    const [x, y] = pointer(event, this.canvas);
    this.callbacks.onSelect(this.find(x, y)?.key ?? null);
  };

  private readonly onPointerMove = (event: PointerEvent) => {
    const [x, y] = pointer(event, this.canvas);
    const node = this.find(x, y);
    this.canvas.style.cursor = node ? 'pointer' : 'grab';
    this.canvas.title = node ? `${node.label} — ${STATE_STYLES[node.state].label}` : '';
  };

  /** The mark under a screen point, if any. */
  private find(screenX: number, screenY: number): SimNode | undefined {
    const x = this.transform.invertX(screenX);
    const y = this.transform.invertY(screenY);
    let best: SimNode | undefined;
    let bestDistance = Infinity;
    for (const node of this.nodes.values()) {
      const distance = Math.hypot(node.x - x, node.y - y);
      const reach = node.radius + 4 / this.transform.k;
      if (distance <= reach && distance < bestDistance) {
        best = node;
        bestDistance = distance;
      }
    }
    return best;
  }

  private resize(): void {
    const rect = this.canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    this.width = rect.width;
    this.height = rect.height;
    this.canvas.width = Math.max(1, Math.round(rect.width * ratio));
    this.canvas.height = Math.max(1, Math.round(rect.height * ratio));
    this.requestDraw();
  }

  /** Takes a new model: marks keep their positions by id, new ones enter, gone ones fade. */
  update(model: GraphModel): void {
    this.generation += 1;
    const now = performance.now();
    this.mode = model.mode;
    this.groups = model.groups;
    this.centers = groupCenters(model.groups);
    const previous = new Map<string, Point>();
    for (const [id, node] of this.nodes) previous.set(id, { x: node.x, y: node.y });
    const seeds = seedPositions(model.nodes, previous, this.centers);
    const next = new Map<string, SimNode>();
    let entered = 0;
    let regrouped = 0;
    for (const graphNode of model.nodes) {
      const existing = this.nodes.get(graphNode.id);
      if (existing) {
        if (existing.group !== graphNode.group) regrouped += 1;
        Object.assign(existing, graphNode);
        next.set(graphNode.id, existing);
      } else {
        const seed = seeds.get(graphNode.id)!;
        // A member that comes back while fading out keeps its place.
        const returning = this.leaving.find((node) => node.id === graphNode.id);
        next.set(graphNode.id, {
          ...graphNode,
          x: returning?.x ?? seed.x,
          y: returning?.y ?? seed.y,
          bornAt: returning ? now - ENTER_MS : now,
          leftAt: null,
        });
        entered += 1;
      }
    }
    this.leaving = this.leaving.filter((node) => !next.has(node.id));
    for (const [id, node] of this.nodes) {
      if (!next.has(id)) this.leaving.push({ ...node, leftAt: now });
    }
    this.nodes = next;
    this.links = model.links
      .filter((link) => next.has(link.source) && next.has(link.target))
      .map((link) => ({
        id: link.id,
        kind: link.kind,
        source: next.get(link.source)!,
        target: next.get(link.target)!,
      }));
    this.simulation.nodes([...next.values()]);
    this.linkForce.links(this.links);
    // Re-read the per-node targets (groups may have moved) and give the layout some heat.
    this.simulation.force(
      'x',
      forceX<SimNode>((node) => this.centers[node.group]?.x ?? 0).strength(0.12),
    );
    this.simulation.force(
      'y',
      forceY<SimNode>((node) => this.centers[node.group]?.y ?? 0).strength(0.12),
    );
    const heat = previous.size === 0 ? 1 : entered > 0 || regrouped > 0 ? 0.5 : 0.05;
    this.simulation.alpha(Math.max(this.simulation.alpha(), heat)).restart();
    this.canvas.dataset.nodes = String(next.size);
    this.canvas.dataset.groups = String(model.partitions);
    this.canvas.dataset.generation = String(this.generation);
    this.requestDraw();
  }

  /** Highlights the member with this key (or none). */
  select(key: string | null): void {
    this.selectedKey = key;
    this.requestDraw();
  }

  /** Fits the drawing again and resumes auto-fit. */
  resetView(): void {
    this.userMoved = false;
    this.callbacks.onViewMoved(false);
    this.fit(false);
  }

  private fit(smooth: boolean): void {
    if (this.width === 0 || this.nodes.size === 0) return;
    const target = fitTransform(boundsOf(this.nodes.values()), this.width, this.height, 56, 1.5);
    const current = this.transform;
    // Ease toward the fit so the view does not shake with every tick.
    const blend = smooth ? 0.2 : 1;
    const k = current.k + (target.k - current.k) * blend;
    const x = current.x + (target.x - current.x) * blend;
    const y = current.y + (target.y - current.y) * blend;
    // Close enough: stop, or every fit would schedule another frame forever.
    if (
      Math.abs(k - current.k) < 0.002 &&
      Math.abs(x - current.x) < 0.5 &&
      Math.abs(y - current.y) < 0.5
    ) {
      return;
    }
    select(this.canvas).call(this.zoomBehavior.transform, zoomIdentity.translate(x, y).scale(k));
  }

  private requestDraw(): void {
    if (this.frame !== null || this.destroyed) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  private draw(): void {
    const now = performance.now();
    if (!this.userMoved) {
      const first = this.transform === zoomIdentity;
      this.fit(!first);
    }
    const context = this.context;
    const ratio = window.devicePixelRatio || 1;
    const dark = window.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false;
    const ink = dark ? '#e2e8f0' : '#0f172a';
    const faint = dark ? 'rgba(148,163,184,0.45)' : 'rgba(71,85,105,0.35)';
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, this.width, this.height);
    const { k, x, y } = this.transform;
    context.setTransform(ratio * k, 0, 0, ratio * k, ratio * x, ratio * y);

    // Groups: a dashed outline around each partition (and the members outside the mesh).
    if (this.groups.length > 1 || this.groups[0]?.kind === 'outside') {
      const byGroup = new Map<number, SimNode[]>();
      for (const node of this.nodes.values()) {
        const list = byGroup.get(node.group) ?? [];
        list.push(node);
        byGroup.set(node.group, list);
      }
      context.font = `${12 / k}px ui-sans-serif, system-ui, sans-serif`;
      for (const [index, members] of byGroup) {
        const group = this.groups[index];
        if (!group) continue;
        const cx = members.reduce((sum, node) => sum + node.x, 0) / members.length;
        const cy = members.reduce((sum, node) => sum + node.y, 0) / members.length;
        const r =
          members.reduce(
            (max, node) => Math.max(max, Math.hypot(node.x - cx, node.y - cy) + node.radius),
            0,
          ) + 16;
        context.beginPath();
        context.arc(cx, cy, r, 0, 2 * Math.PI);
        context.setLineDash([6 / k, 4 / k]);
        context.lineWidth = 1.5 / k;
        context.strokeStyle = group.kind === 'outside' ? faint : group.main ? '#16a34a' : '#d97706';
        context.stroke();
        context.setLineDash([]);
        context.fillStyle = ink;
        context.textAlign = 'center';
        context.fillText(group.label, cx, cy - r - 6 / k);
      }
    }

    // Links: plain for agreed links, dashed amber for one-sided, dashed red for missing.
    for (const link of this.links) {
      context.beginPath();
      context.moveTo(link.source.x, link.source.y);
      context.lineTo(link.target.x, link.target.y);
      if (link.kind === 'link') {
        context.setLineDash([]);
        context.strokeStyle = faint;
        context.lineWidth = 1 / k;
      } else {
        context.setLineDash(link.kind === 'missing' ? [2 / k, 3 / k] : [6 / k, 3 / k]);
        context.strokeStyle = link.kind === 'missing' ? '#dc2626' : '#d97706';
        context.lineWidth = 1.5 / k;
      }
      context.stroke();
    }
    context.setLineDash([]);

    // Marks, then the ones fading out on top of nothing (they no longer take part in the layout).
    let animating = false;
    const path = symbol<MarkShape>().context(context);
    const showLabels = this.nodes.size <= 40 && k >= 0.5;
    const drawMark = (node: SimNode, opacity: number, grow: number) => {
      const style = STATE_STYLES[node.state];
      context.save();
      context.globalAlpha = opacity;
      context.translate(node.x, node.y);
      context.beginPath();
      path.type(SYMBOL_TYPES[style.shape]).size(symbolArea(node.radius * grow))();
      context.fillStyle = style.color;
      context.fill();
      context.lineWidth = 1.5 / k;
      context.strokeStyle = dark ? '#0f172a' : '#ffffff';
      context.stroke();
      if (node.key === this.selectedKey) {
        context.beginPath();
        context.arc(0, 0, node.radius * grow + 5 / k, 0, 2 * Math.PI);
        context.lineWidth = 2.5 / k;
        context.strokeStyle = dark ? '#38bdf8' : '#0369a1';
        context.stroke();
      }
      if (showLabels) {
        context.fillStyle = ink;
        context.textAlign = 'center';
        context.font = `${11 / k}px ui-sans-serif, system-ui, sans-serif`;
        context.fillText(node.label, 0, node.radius * grow + 13 / k);
      }
      context.restore();
    };
    for (const node of this.nodes.values()) {
      const age = now - node.bornAt;
      const grow = age >= ENTER_MS ? 1 : easeOut(Math.max(0, age) / ENTER_MS);
      if (age < ENTER_MS) animating = true;
      drawMark(node, Math.min(1, 0.3 + grow), Math.max(0.05, grow));
    }
    this.leaving = this.leaving.filter((node) => now - (node.leftAt ?? now) < LEAVE_MS);
    for (const node of this.leaving) {
      const t = (now - (node.leftAt ?? now)) / LEAVE_MS;
      drawMark(node, 1 - t, 1 + 0.5 * t);
      animating = true;
    }
    this.canvas.dataset.leaving = String(this.leaving.length);
    if (animating) this.requestDraw();
  }

  /** Stops the layout, the animation and every listener. */
  destroy(): void {
    this.destroyed = true;
    this.simulation.stop();
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.resizeObserver.disconnect();
    this.canvas.removeEventListener('click', this.onClick);
    this.canvas.removeEventListener('pointermove', this.onPointerMove);
    select(this.canvas).on('.zoom', null).on('.drag', null);
  }
}
