import 'server-only';

// The bounded buffers behind everything the collector remembers.

/**
 * A fixed-capacity ring: pushing onto a full ring drops the oldest item. Memory stays bounded
 * however long the server runs (timeline, SSE replay, per-node history).
 */
export class Ring<T> {
  private readonly items: Array<T | undefined>;
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`a ring needs a capacity of at least 1, not ${capacity}`);
    }
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count < this.capacity) {
      this.items[(this.start + this.count) % this.capacity] = item;
      this.count += 1;
    } else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** The oldest item still held. */
  oldest(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.start];
  }

  /** Replaces the newest item `match` picks with `update`'s result; false when none matched. */
  replace(match: (item: T) => boolean, update: (item: T) => T): boolean {
    for (let index = this.count - 1; index >= 0; index -= 1) {
      const position = (this.start + index) % this.capacity;
      if (match(this.items[position] as T)) {
        this.items[position] = update(this.items[position] as T);
        return true;
      }
    }
    return false;
  }

  /** Every item, oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let index = 0; index < this.count; index += 1) {
      out.push(this.items[(this.start + index) % this.capacity] as T);
    }
    return out;
  }
}

/**
 * A ring bounded both by item count and by total weight (e.g. members carried by a delta), so a
 * large cluster's heavy messages cannot grow memory past `maxWeight` however many fit by count.
 * The newest item is always kept.
 */
export class WeightedRing<T> {
  /** Entries before `head` are dropped: emptied at once, so a dropped item is not kept alive. */
  private items: Array<{ item: T; weight: number } | undefined> = [];
  private head = 0;
  private totalWeight = 0;

  constructor(
    readonly capacity: number,
    readonly maxWeight: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`a ring needs a capacity of at least 1, not ${capacity}`);
    }
  }

  get size(): number {
    return this.items.length - this.head;
  }

  get weight(): number {
    return this.totalWeight;
  }

  push(item: T, weight: number): void {
    this.items.push({ item, weight });
    this.totalWeight += weight;
    while (this.size > 1 && (this.size > this.capacity || this.totalWeight > this.maxWeight)) {
      this.totalWeight -= this.items[this.head]!.weight;
      // Released now, not when the prefix is next cut: a 1,000-node cluster's deltas weigh
      // megabytes each, and up to 1,024 dropped ones were kept (4 GB of heap in the history
      // bench).
      this.items[this.head] = undefined;
      this.head += 1;
    }
    // Drop the consumed prefix now and then, so the array does not grow forever.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  oldest(): T | undefined {
    return this.items[this.head]?.item;
  }

  toArray(): T[] {
    return this.items.slice(this.head).map((entry) => entry!.item);
  }
}

/**
 * A fixed-capacity ring of rows of `fields` numbers, held in one Float64Array that grows (by
 * doubling, up to the capacity) as rows arrive: a row costs 8 bytes a field, where a row as an
 * object cost its header, a slot in the ring's array and a boxed number for every field outside
 * the small-integer range (a timestamp, a memory size). Sized for a window from the start, a
 * node's ring of an hour at 2 s held 1,801 slots before its first point; now it holds what has
 * arrived. Any number is stored as it is, NaN included.
 */
export class NumberRowRing {
  private values: Float64Array;
  private start = 0;
  private count = 0;

  constructor(
    readonly capacity: number,
    readonly fields: number,
    initialRows = 16,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`a ring needs a capacity of at least 1, not ${capacity}`);
    }
    this.values = new Float64Array(Math.min(capacity, Math.max(1, initialRows)) * fields);
  }

  get size(): number {
    return this.count;
  }

  private get rows(): number {
    return this.values.length / this.fields;
  }

  /** Appends a row (its first `fields` numbers); on a full ring the oldest row gives way. */
  push(row: ArrayLike<number>): void {
    if (this.count === this.rows && this.rows < this.capacity) {
      // Grow: the rows in order from the oldest, so `start` is 0 again.
      const grown = new Float64Array(Math.min(this.capacity, this.rows * 2) * this.fields);
      for (let index = 0; index < this.count; index += 1) {
        const from = ((this.start + index) % this.rows) * this.fields;
        grown.set(this.values.subarray(from, from + this.fields), index * this.fields);
      }
      this.values = grown;
      this.start = 0;
    }
    let slot: number;
    if (this.count < this.rows) {
      slot = (this.start + this.count) % this.rows;
      this.count += 1;
    } else {
      slot = this.start;
      this.start = (this.start + 1) % this.rows;
    }
    for (let field = 0; field < this.fields; field += 1) {
      this.values[slot * this.fields + field] = row[field]!;
    }
  }

  /** Calls `visit` with each row, oldest first (the view is only valid during the call). */
  forEach(visit: (row: Float64Array) => void): void {
    for (let index = 0; index < this.count; index += 1) {
      const from = ((this.start + index) % this.rows) * this.fields;
      visit(this.values.subarray(from, from + this.fields));
    }
  }
}
