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
  type MemberVisualState,
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
/** What a d3 symbol type draws into. */
type SymbolContext = Parameters<SymbolType['draw']>[0];

/** Link kinds in drawing order: trouble on top. */
const LINK_KINDS: readonly GraphLink['kind'][] = ['link', 'asymmetric', 'missing'];

/**
 * A path sink that draws d3 symbols (which draw around the origin) at a point, so many marks
 * go into one canvas path without a save/translate/restore each.
 */
class OffsetPath implements SymbolContext {
  private x = 0;
  private y = 0;

  constructor(private readonly context: CanvasRenderingContext2D) {}

  at(x: number, y: number): void {
    this.x = x;
    this.y = y;
  }

  moveTo(x: number, y: number): void {
    this.context.moveTo(x + this.x, y + this.y);
  }

  lineTo(x: number, y: number): void {
    this.context.lineTo(x + this.x, y + this.y);
  }

  arc(x: number, y: number, radius: number, start: number, end: number, ccw?: boolean): void {
    this.context.arc(x + this.x, y + this.y, radius, start, end, ccw);
  }

  arcTo(x1: number, y1: number, x2: number, y2: number, radius: number): void {
    this.context.arcTo(x1 + this.x, y1 + this.y, x2 + this.x, y2 + this.y, radius);
  }

  bezierCurveTo(ax: number, ay: number, bx: number, by: number, x: number, y: number): void {
    const { x: dx, y: dy } = this;
    this.context.bezierCurveTo(ax + dx, ay + dy, bx + dx, by + dy, x + dx, y + dy);
  }

  quadraticCurveTo(ax: number, ay: number, x: number, y: number): void {
    this.context.quadraticCurveTo(ax + this.x, ay + this.y, x + this.x, y + this.y);
  }

  ellipse(
    x: number,
    y: number,
    rx: number,
    ry: number,
    rotation: number,
    start: number,
    end: number,
    ccw?: boolean,
  ): void {
    this.context.ellipse(x + this.x, y + this.y, rx, ry, rotation, start, end, ccw);
  }

  rect(x: number, y: number, width: number, height: number): void {
    this.context.rect(x + this.x, y + this.y, width, height);
  }

  closePath(): void {
    this.context.closePath();
  }
}
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
  private readonly offsetPath: OffsetPath;
  /** Asked once: a new MediaQueryList per frame was measurable garbage at 60 frames a second. */
  private readonly darkQuery: MediaQueryList | null;
  private readonly simulation: Simulation<SimNode, SimLink>;
  private readonly linkForce: ForceLink<SimNode, SimLink>;
  private readonly zoomBehavior: ZoomBehavior<HTMLCanvasElement, unknown>;
  private readonly resizeObserver: ResizeObserver;
  private nodes = new Map<string, SimNode>();
  /** The same marks by member key (selection). */
  private keyIndex = new Map<string, SimNode>();
  private leaving: SimNode[] = [];
  private links: SimLink[] = [];
  /** The links' ids as of the last update, to tell whether they changed. */
  private linkKey = '';
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
  /** Whether a frame with marks was drawn yet (marked once for the browser benchmark). */
  private drewMarks = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly callbacks: GraphEngineCallbacks,
  ) {
    const context = canvas.getContext('2d');
    if (!context) throw new Error('this browser has no 2D canvas');
    this.context = context;
    this.offsetPath = new OffsetPath(context);
    this.darkQuery = window.matchMedia?.('(prefers-color-scheme: dark)') ?? null;
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
      .on('tick', () => this.requestDraw())
      // One User Timing mark per cool-down: bench/browser-scale.ts times "while the layout settles".
      .on('end', () => performance.mark('beamscope:graph-settled'));

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
    let resized = 0;
    for (const graphNode of model.nodes) {
      const existing = this.nodes.get(graphNode.id);
      if (existing) {
        if (existing.group !== graphNode.group) regrouped += 1;
        if (existing.radius !== graphNode.radius) resized += 1;
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
    let removed = 0;
    for (const [id, node] of this.nodes) {
      if (!next.has(id)) {
        this.leaving.push({ ...node, leftAt: now });
        removed += 1;
      }
    }
    this.nodes = next;
    this.keyIndex = new Map([...next.values()].map((node) => [node.key, node]));
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
    const linkKey = this.links.map((link) => link.id).join(' ');
    const relinked = linkKey !== this.linkKey;
    this.linkKey = linkKey;
    const heat =
      previous.size === 0
        ? 1
        : entered > 0 || regrouped > 0
          ? 0.5
          : resized > 0 || removed > 0 || relinked
            ? 0.05
            : 0;
    // A model that moves nothing (a new load figure, a state colour) is redrawn, not re-laid
    // out: at a thousand members every probe cycle brings one, and reheating each kept the
    // force layout ticking for good.
    if (heat > 0) this.simulation.alpha(Math.max(this.simulation.alpha(), heat)).restart();
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
    const dark = this.darkQuery?.matches ?? false;
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

    // Links: plain for agreed links, dashed amber for one-sided, dashed red for missing. One
    // path per kind: a stroke per line made hundreds of missing links cost a frame on their own.
    for (const kind of LINK_KINDS) {
      let any = false;
      context.beginPath();
      for (const link of this.links) {
        if (link.kind !== kind) continue;
        context.moveTo(link.source.x, link.source.y);
        context.lineTo(link.target.x, link.target.y);
        any = true;
      }
      if (!any) continue;
      if (kind === 'link') {
        context.setLineDash([]);
        context.strokeStyle = faint;
        context.lineWidth = 1 / k;
      } else {
        context.setLineDash(kind === 'missing' ? [2 / k, 3 / k] : [6 / k, 3 / k]);
        context.strokeStyle = kind === 'missing' ? '#dc2626' : '#d97706';
        context.lineWidth = 1.5 / k;
      }
      context.stroke();
    }
    context.setLineDash([]);

    // Marks. Those that look alike (same state, same stage of their entrance) go into one path,
    // filled and outlined once: per-mark fill/stroke/save/restore was most of a frame's cost at
    // a thousand members in software raster. Marks fading out, the selection ring and labels
    // are few and drawn one by one on top.
    let animating = false;
    const outline = dark ? '#0f172a' : '#ffffff';
    const batches = new Map<string, { state: MemberVisualState; grow: number; nodes: SimNode[] }>();
    for (const node of this.nodes.values()) {
      const age = now - node.bornAt;
      const entering = age < ENTER_MS;
      if (entering) animating = true;
      // Members that entered together share `bornAt`, so an entrance is one batch per state too.
      const id = entering ? `${node.state}@${node.bornAt}` : node.state;
      let batch = batches.get(id);
      if (!batch) {
        const grow = entering ? easeOut(Math.max(0, age) / ENTER_MS) : 1;
        batch = { state: node.state, grow, nodes: [] };
        batches.set(id, batch);
      }
      batch.nodes.push(node);
    }
    // Past a few pixels across, an outline is all a mark is: skip it (level of detail).
    const outlined = (radius: number) => radius * k >= 2.5;
    for (const { state, grow, nodes } of batches.values()) {
      const style = STATE_STYLES[state];
      const type = SYMBOL_TYPES[style.shape];
      const scale = Math.max(0.05, grow);
      context.globalAlpha = Math.min(1, 0.3 + grow);
      context.beginPath();
      let outlineAll = false;
      for (const node of nodes) {
        this.offsetPath.at(node.x, node.y);
        type.draw(this.offsetPath, symbolArea(node.radius * scale));
        if (outlined(node.radius * scale)) outlineAll = true;
      }
      context.fillStyle = style.color;
      context.fill();
      if (outlineAll) {
        context.lineWidth = 1.5 / k;
        context.strokeStyle = outline;
        context.stroke();
      }
    }
    context.globalAlpha = 1;

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
      context.strokeStyle = outline;
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
    this.leaving = this.leaving.filter((node) => now - (node.leftAt ?? now) < LEAVE_MS);
    for (const node of this.leaving) {
      const t = (now - (node.leftAt ?? now)) / LEAVE_MS;
      drawMark(node, 1 - t, 1 + 0.5 * t);
      animating = true;
    }

    const selected = this.selectedKey === null ? undefined : this.keyIndex.get(this.selectedKey);
    if (selected) {
      const age = now - selected.bornAt;
      const grow = age >= ENTER_MS ? 1 : Math.max(0.05, easeOut(Math.max(0, age) / ENTER_MS));
      context.beginPath();
      context.arc(selected.x, selected.y, selected.radius * grow + 5 / k, 0, 2 * Math.PI);
      context.lineWidth = 2.5 / k;
      context.strokeStyle = dark ? '#38bdf8' : '#0369a1';
      context.stroke();
    }

    if (showLabels) {
      context.fillStyle = ink;
      context.textAlign = 'center';
      context.font = `${11 / k}px ui-sans-serif, system-ui, sans-serif`;
      for (const node of this.nodes.values()) {
        const age = now - node.bornAt;
        const grow = age >= ENTER_MS ? 1 : Math.max(0.05, easeOut(Math.max(0, age) / ENTER_MS));
        context.globalAlpha = Math.min(1, 0.3 + grow);
        context.fillText(node.label, node.x, node.y + node.radius * grow + 13 / k);
      }
      context.globalAlpha = 1;
    }
    this.canvas.dataset.leaving = String(this.leaving.length);
    if (!this.drewMarks && this.nodes.size > 0) {
      // Once per engine, so it costs nothing: "data in → first drawn frame" for the benchmark.
      this.drewMarks = true;
      performance.mark('beamscope:graph-first-draw', { detail: { nodes: this.nodes.size } });
    }
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
