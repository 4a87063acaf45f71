'use client';

import { describeCell, type AdjacencyModel } from '@/lib/adjacency';

import { cellAt, cellPixels, drawOverlays, matrixBox, type MatrixBox } from './adjacency-draw';

/** The pair under the pointer: a line naming it, where the pointer is and the canvas's width. */
export interface AdjacencyHover {
  text: string;
  x: number;
  y: number;
  width: number;
}

/** What the canvas tells the React side. */
export interface AdjacencyCanvasCallbacks {
  /** A cell's row member was clicked (its key), or the background (null). */
  onSelect(key: string | null): void;
  /** The pair under the pointer (a line naming it and its cell), or null off the matrix. */
  onHover(hover: AdjacencyHover | null): void;
}

/**
 * The adjacency view's `<canvas>`: the cells painted once per model into an offscreen canvas of
 * one pixel per cell, scaled onto the screen in one `drawImage` (smoothed: a block of cells
 * shows its mix), with the trouble cells, outlines and selection drawn over at screen size.
 */
export class AdjacencyCanvas {
  private readonly context: CanvasRenderingContext2D;
  private readonly cells = document.createElement('canvas');
  private readonly darkQuery: MediaQueryList | null;
  private readonly resizeObserver: ResizeObserver;
  private readonly swatch: CanvasRenderingContext2D | null;
  private readonly packed = new Map<string, number>();
  private model: AdjacencyModel | null = null;
  private pixels: Uint32Array<ArrayBuffer> | undefined;
  private paintedDark: boolean | null = null;
  private selectedKey: string | null = null;
  private box: MatrixBox = { x: 0, y: 0, side: 0, cell: 0 };
  private width = 0;
  private height = 0;
  private frame: number | null = null;
  private drewCells = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly callbacks: AdjacencyCanvasCallbacks,
  ) {
    const context = canvas.getContext('2d');
    if (!context) throw new Error('this browser has no 2D canvas');
    this.context = context;
    const swatch = document.createElement('canvas');
    swatch.width = 1;
    swatch.height = 1;
    this.swatch = swatch.getContext('2d', { willReadFrequently: true });
    this.darkQuery = window.matchMedia?.('(prefers-color-scheme: dark)') ?? null;
    canvas.addEventListener('pointermove', this.onPointerMove);
    canvas.addEventListener('pointerleave', this.onPointerLeave);
    canvas.addEventListener('click', this.onClick);
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(canvas);
    this.resize();
  }

  /** A CSS colour as the `Uint32Array` view of `ImageData` holds it (read back from a pixel). */
  private readonly rgba = (colour: string): number => {
    const known = this.packed.get(colour);
    if (known !== undefined) return known;
    let value = 0;
    if (this.swatch) {
      this.swatch.clearRect(0, 0, 1, 1);
      this.swatch.fillStyle = colour;
      this.swatch.fillRect(0, 0, 1, 1);
      value = new Uint32Array(this.swatch.getImageData(0, 0, 1, 1).data.buffer)[0] ?? 0;
    }
    this.packed.set(colour, value);
    return value;
  };

  private readonly onPointerMove = (event: PointerEvent) => {
    const rect = this.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    const cell = this.model ? cellAt(this.box, this.model.size, x, y) : null;
    const text = cell && this.model ? describeCell(this.model, cell.row, cell.col) : null;
    this.canvas.style.cursor = text ? 'pointer' : 'default';
    this.callbacks.onHover(text ? { text, x, y, width: rect.width } : null);
  };

  private readonly onPointerLeave = () => this.callbacks.onHover(null);

  private readonly onClick = (event: MouseEvent) => {
    const rect = this.canvas.getBoundingClientRect();
    const cell = this.model
      ? cellAt(this.box, this.model.size, event.clientX - rect.left, event.clientY - rect.top)
      : null;
    this.callbacks.onSelect(cell ? (this.model?.members[cell.row]?.key ?? null) : null);
  };

  private resize(): void {
    const rect = this.canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    this.width = rect.width;
    this.height = rect.height;
    this.canvas.width = Math.max(1, Math.round(rect.width * ratio));
    this.canvas.height = Math.max(1, Math.round(rect.height * ratio));
    this.requestDraw();
  }

  /** Takes a new model: its cells are painted again if they changed, the rest redrawn. */
  update(model: AdjacencyModel): void {
    const previous = this.model;
    this.model = model;
    this.canvas.dataset.size = String(model.size);
    this.canvas.dataset.blocks = String(model.blocks.length);
    // A model that kept the cells of the one drawn (the mesh did not change) kept its trouble
    // cells and its blocks' places too: the same pixels, so nothing is drawn again.
    if (
      previous &&
      model.cells === previous.cells &&
      model.trouble === previous.trouble &&
      this.rowOf(previous, this.selectedKey) === this.rowOf(model, this.selectedKey)
    ) {
      return;
    }
    if (model.cells !== previous?.cells) this.paintedDark = null;
    this.requestDraw();
  }

  /** Outlines the row and column of the member with this key (or none). */
  select(key: string | null): void {
    this.selectedKey = key;
    this.requestDraw();
  }

  private requestDraw(): void {
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  private paintCells(model: AdjacencyModel, dark: boolean): void {
    if (this.paintedDark === dark) return;
    this.paintedDark = dark;
    if (this.cells.width !== model.size || this.cells.height !== model.size) {
      this.cells.width = Math.max(1, model.size);
      this.cells.height = Math.max(1, model.size);
    }
    const context = this.cells.getContext('2d');
    if (!context || model.size === 0) return;
    this.pixels = cellPixels(model, this.rgba, dark, this.pixels);
    const image = new ImageData(
      new Uint8ClampedArray(this.pixels.buffer, 0, model.size * model.size * 4),
      model.size,
      model.size,
    );
    context.putImageData(image, 0, 0);
  }

  private draw(): void {
    const model = this.model;
    const ratio = window.devicePixelRatio || 1;
    const context = this.context;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, this.width, this.height);
    if (!model || model.size === 0) return;
    const dark = this.darkQuery?.matches ?? false;
    this.paintCells(model, dark);
    this.box = matrixBox(this.width, this.height, model.size);
    // Smoothing shows a block's mix of cells when there are more cells than pixels; past one
    // pixel a cell, sharp edges between cells read better.
    context.imageSmoothingEnabled = this.box.cell < 1;
    context.drawImage(this.cells, this.box.x, this.box.y, this.box.side, this.box.side);
    const selectedRow = this.members().findIndex((member) => member.key === this.selectedKey);
    drawOverlays(context, this.box, model, dark, selectedRow < 0 ? null : selectedRow);
    if (!this.drewCells) {
      // Once, as the graph engine does: "data in → first drawn frame" for the browser benchmark.
      this.drewCells = true;
      performance.mark('beamscope:graph-first-draw', {
        detail: { nodes: model.size, view: 'adjacency' },
      });
      performance.mark('beamscope:graph-settled');
    }
  }

  private rowOf(model: AdjacencyModel, key: string | null): number {
    return key === null ? -1 : model.members.findIndex((member) => member.key === key);
  }

  private members() {
    return this.model?.members ?? [];
  }

  /** Stops drawing and every listener. */
  destroy(): void {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    this.resizeObserver.disconnect();
    this.canvas.removeEventListener('pointermove', this.onPointerMove);
    this.canvas.removeEventListener('pointerleave', this.onPointerLeave);
    this.canvas.removeEventListener('click', this.onClick);
  }
}
