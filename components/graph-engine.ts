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
  zoom,
  zoomIdentity,
  type D3DragEvent,
  type ForceLink,
  type Simulation,
  type SimulationLinkDatum,
  type SimulationNodeDatum,
  type ZoomBehavior,
  type ZoomTransform,
} from 'd3';

import { easeTowardTargets, fixedPositions, usesFixedLayout } from '@/lib/fixed-layout';
import { boundsOf, fitTransform, groupCenters, seedPositions, type Point } from '@/lib/layout';
import { STATE_STYLES, type GraphGroup, type GraphLink, type GraphModel } from '@/lib/graph-model';

import { clearFrame, type DrawFrame, type PlacedMark } from './graph-draw/frame';
import { drawGroups, groupRings, showsGroupRings } from './graph-draw/groups';
import { drawLabels, MAX_LABELLED_MARKS, showsLabels } from './graph-draw/labels';
import { drawLinks } from './graph-draw/links';
import { drawLeavingMarks, drawMarks, drawSelection, markBatches } from './graph-draw/marks';
import { ENTER_MS, stillLeaving } from './graph-draw/motion';
import { OffsetPath } from './graph-draw/offset-path';

// The legend's marks (StateMark) import these from here; they live with the rest of the style.

interface SimNode extends SimulationNodeDatum, PlacedMark {
  // d3 leaves positions optional; ours are seeded before the layout first sees a mark.
  x: number;
  y: number;
  /** Where a large mesh's fixed layout puts the mark; it eases there, no force involved. */
  target?: Point;
}

interface SimLink extends SimulationLinkDatum<SimNode> {
  id: string;
  kind: GraphLink['kind'];
  level: number;
  busy: boolean;
  source: SimNode;
  target: SimNode;
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
  private readonly symbols: OffsetPath;
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
  /** Large meshes: places from {@link fixedPositions}, the force simulation stopped. */
  private fixed = false;
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
  /** A fixed layout whose marks are still easing into place (one settled mark per arrival). */
  private settling = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly callbacks: GraphEngineCallbacks,
  ) {
    const context = canvas.getContext('2d');
    if (!context) throw new Error('this browser has no 2D canvas');
    this.context = context;
    this.symbols = new OffsetPath(context);
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
        forceCollide<SimNode>(
          (node) => node.radius + (this.nodes.size <= MAX_LABELLED_MARKS ? 22 : 2),
        ),
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
        // A fixed layout has nothing to pull a dragged mark back: the press pans instead.
        const node = this.fixed ? undefined : this.find(event.x, event.y);
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
        level: link.level,
        busy: link.busy,
        source: next.get(link.source)!,
        target: next.get(link.target)!,
      }));
    this.canvas.dataset.nodes = String(next.size);
    this.canvas.dataset.groups = String(model.partitions);
    // What the links pass shows, for tests and tools: links drawn with traffic, and busy ones.
    this.canvas.dataset.trafficLinks = String(this.links.filter((link) => link.level > 0).length);
    this.canvas.dataset.busyLinks = String(this.links.filter((link) => link.busy).length);
    this.canvas.dataset.generation = String(this.generation);
    this.fixed = usesFixedLayout(next.size);
    this.canvas.dataset.layout = this.fixed ? 'fixed' : 'force';
    if (this.fixed) {
      this.placeFixed(model, previous.size === 0, now);
      return;
    }
    for (const node of next.values()) node.target = undefined;
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
    this.requestDraw();
  }

  /**
   * A large mesh: every mark gets its place from its partition and name; new marks appear there,
   * others ease toward theirs in the next frames. The simulation stays stopped (its ticks were
   * the frame time at a thousand members).
   */
  private placeFixed(model: GraphModel, first: boolean, now: number): void {
    this.simulation.stop();
    this.simulation.nodes([]);
    this.linkForce.links([]);
    const targets = fixedPositions(model.nodes, model.groups);
    for (const node of this.nodes.values()) {
      const target = targets.get(node.id)!;
      node.target = target;
      // New marks (born in this update) appear in place; the rest ease there.
      if (first || node.bornAt === now) {
        node.x = target.x;
        node.y = target.y;
      }
    }
    this.settling = true;
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

  /** Draws one frame, in passes from the back: groups, links, marks, labels. */
  private draw(): void {
    const now = performance.now();
    // The first fit jumps into place; later ones ease toward the moving layout.
    const moving = this.fixed && easeTowardTargets(this.nodes.values());
    if (!this.userMoved) this.fit(this.transform !== zoomIdentity);
    this.leaving = stillLeaving(this.leaving, now);
    const frame = this.startFrame(now);
    if (showsGroupRings(this.groups)) {
      drawGroups(frame, groupRings(this.nodes.values(), this.groups));
    }
    drawLinks(frame, this.links);
    const { batches, entering } = markBatches(this.nodes.values(), now);
    drawMarks(frame, batches);
    const labelled = showsLabels(this.nodes.size, frame.k);
    drawLeavingMarks(frame, this.leaving, this.selectedKey, labelled);
    drawSelection(
      frame,
      this.selectedKey === null ? undefined : this.keyIndex.get(this.selectedKey),
    );
    if (labelled) drawLabels(frame, this.nodes.values());

    this.canvas.dataset.leaving = String(this.leaving.length);
    if (!this.drewMarks && this.nodes.size > 0) {
      // Once per engine, so it costs nothing: "data in → first drawn frame" for the benchmark.
      this.drewMarks = true;
      performance.mark('beamscope:graph-first-draw', { detail: { nodes: this.nodes.size } });
    }
    if (entering || moving || this.leaving.length > 0) this.requestDraw();
    else if (this.fixed && this.settling) {
      // The force layout marks its cool-down; a fixed one is settled once its marks arrived.
      this.settling = false;
      performance.mark('beamscope:graph-settled');
    }
  }

  /** Clears the canvas for a frame at the current view. */
  private startFrame(now: number): DrawFrame {
    const ratio = window.devicePixelRatio || 1;
    clearFrame(this.context, this.width, this.height, ratio, this.transform);
    return {
      context: this.context,
      symbols: this.symbols,
      k: this.transform.k,
      now,
      dark: this.darkQuery?.matches ?? false,
    };
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
