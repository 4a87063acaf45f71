import type { SymbolType } from 'd3';

/** What a d3 symbol type draws into. */
export type SymbolContext = Parameters<SymbolType['draw']>[0];

/**
 * A path sink that draws d3 symbols (which draw around the origin) at a point, so many marks
 * go into one canvas path without a save/translate/restore each.
 */
export class OffsetPath implements SymbolContext {
  private x = 0;
  private y = 0;

  constructor(private readonly context: SymbolContext) {}

  /** Moves the origin of the next symbols to (`x`, `y`). */
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
