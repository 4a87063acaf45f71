import 'server-only';

// A node's history points packed: at 1,000 nodes an hour at 2 s is 1.8 million rows, which as
// four Float64s (32 bytes) took 58 MB; packed they take 20 bytes (36 MB).

import { NumberRowRing } from './ring';

/** One history row: when, and three numbers (NaN where not known). */
export type HistoryRowVisitor = (
  at: number,
  processCount: number,
  registeredNames: number,
  memoryBytes: number,
) => void;

const NOT_KNOWN = 0xffff_ffff;
const OFFSET_SPAN = 0x1_0000_0000;

/** A count as Uint32 holds it exactly: a whole number below 2³² − 1, or NaN. */
const fitsUint32 = (value: number): boolean =>
  Number.isNaN(value) ||
  (Number.isInteger(value) && value >= 0 && value < NOT_KNOWN && !Object.is(value, -0));

/**
 * A fixed-capacity ring of history rows that grows (by doubling, up to the capacity) as rows
 * arrive, as {@link NumberRowRing} does, but packed: the time as Uint32 milliseconds after the
 * ring's base time (moved up to the oldest row when 49 days do not suffice), the process and name
 * counts as Uint32, the memory as Float64 (a node may hold more than 4 GB). A row one of these
 * cannot hold exactly — a time before the base (the clock went back) or not in whole
 * milliseconds, a count that is not a whole number — turns the ring into Float64 rows for good:
 * what is read back is always what was written.
 */
export class HistoryRowRing {
  private base = Number.NaN;
  private offsets: Uint32Array;
  private counts: Uint32Array;
  private memory: Float64Array;
  private start = 0;
  private count = 0;
  private plain: NumberRowRing | undefined;

  constructor(
    readonly capacity: number,
    initialRows = 16,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`a ring needs a capacity of at least 1, not ${capacity}`);
    }
    const rows = Math.min(capacity, Math.max(1, initialRows));
    this.offsets = new Uint32Array(rows);
    this.counts = new Uint32Array(rows * 2);
    this.memory = new Float64Array(rows);
  }

  get size(): number {
    return this.plain?.size ?? this.count;
  }

  private get rows(): number {
    return this.offsets.length;
  }

  push(at: number, processCount: number, registeredNames: number, memoryBytes: number): void {
    if (this.plain) {
      this.plain.push([at, processCount, registeredNames, memoryBytes]);
      return;
    }
    if (Number.isNaN(this.base) && Number.isInteger(at)) this.base = at;
    if (at - this.base >= OFFSET_SPAN) this.rebase();
    const offset = at - this.base;
    if (
      !(Number.isInteger(offset) && offset >= 0 && offset < OFFSET_SPAN) ||
      !fitsUint32(processCount) ||
      !fitsUint32(registeredNames)
    ) {
      this.toPlain().push([at, processCount, registeredNames, memoryBytes]);
      return;
    }
    if (this.count === this.rows && this.rows < this.capacity) this.grow();
    let slot: number;
    if (this.count < this.rows) {
      slot = (this.start + this.count) % this.rows;
      this.count += 1;
    } else {
      slot = this.start;
      this.start = (this.start + 1) % this.rows;
    }
    this.offsets[slot] = offset;
    this.counts[slot * 2] = Number.isNaN(processCount) ? NOT_KNOWN : processCount;
    this.counts[slot * 2 + 1] = Number.isNaN(registeredNames) ? NOT_KNOWN : registeredNames;
    this.memory[slot] = memoryBytes;
  }

  /** Calls `visit` with each row, oldest first. */
  forEach(visit: HistoryRowVisitor): void {
    if (this.plain) {
      this.plain.forEach((row) => visit(row[0]!, row[1]!, row[2]!, row[3]!));
      return;
    }
    for (let index = 0; index < this.count; index += 1) {
      const slot = (this.start + index) % this.rows;
      const processCount = this.counts[slot * 2]!;
      const registeredNames = this.counts[slot * 2 + 1]!;
      visit(
        this.base + this.offsets[slot]!,
        processCount === NOT_KNOWN ? Number.NaN : processCount,
        registeredNames === NOT_KNOWN ? Number.NaN : registeredNames,
        this.memory[slot]!,
      );
    }
  }

  /**
   * Moves the base up to the earliest time held (every row's offset shrinks by as much). The
   * earliest, not the oldest row's: a clock that went back leaves a later row with an earlier time.
   */
  private rebase(): void {
    if (this.count === 0) return;
    let shift = Infinity;
    for (let index = 0; index < this.count; index += 1) {
      shift = Math.min(shift, this.offsets[(this.start + index) % this.rows]!);
    }
    for (let index = 0; index < this.count; index += 1) {
      const slot = (this.start + index) % this.rows;
      this.offsets[slot] = this.offsets[slot]! - shift;
    }
    this.base += shift;
  }

  private grow(): void {
    const rows = Math.min(this.capacity, this.rows * 2);
    const offsets = new Uint32Array(rows);
    const counts = new Uint32Array(rows * 2);
    const memory = new Float64Array(rows);
    for (let index = 0; index < this.count; index += 1) {
      const from = (this.start + index) % this.rows;
      offsets[index] = this.offsets[from]!;
      counts[index * 2] = this.counts[from * 2]!;
      counts[index * 2 + 1] = this.counts[from * 2 + 1]!;
      memory[index] = this.memory[from]!;
    }
    this.offsets = offsets;
    this.counts = counts;
    this.memory = memory;
    this.start = 0;
  }

  /** The rows so far as Float64 rows, where every later row goes too. */
  private toPlain(): NumberRowRing {
    const plain = new NumberRowRing(this.capacity, 4, Math.max(this.rows, 1));
    this.forEach((at, processCount, registeredNames, memoryBytes) =>
      plain.push([at, processCount, registeredNames, memoryBytes]),
    );
    this.plain = plain;
    this.offsets = new Uint32Array(0);
    this.counts = new Uint32Array(0);
    this.memory = new Float64Array(0);
    this.count = 0;
    return plain;
  }
}
