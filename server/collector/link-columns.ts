import 'server-only';

// A node's links as packed columns: each field in the smallest array that holds every value of
// this reading exactly. At 1,000 nodes in a whole mesh the link tracker holds a million links;
// as seven Float64s each they weighed 56 MB (224 MB at 2,000), as packed columns about 15 MB.
//
// - times (when a rate's window began, since when the link is up): a node's links share a few
//   reading times, so each is an index into the node's table of distinct times (one byte);
// - packet counters and queue bytes: the narrowest unsigned array that holds every value, its
//   largest value standing for "not known" (an empty queue one byte a link, a counter up to
//   four), else Float64;
// - rates: two significant digits (see `roundRate` in links.ts), kept as the digits and the
//   power of ten that produced them, so reading them back repeats the very same multiplication.
// A column that meets a value its packed form cannot hold exactly falls back to Float64: what is
// read back is always the number written, NaN included.

/** A column of numbers, read back exactly as written. */
interface Column {
  get(index: number): number;
  readonly bytes: number;
}

/** Whole numbers in the narrowest array that holds them; its largest value stands for NaN. */
type Unsigned = Uint8Array | Uint16Array | Uint32Array;

class Float64Column implements Column {
  constructor(private readonly values: Float64Array) {}
  get(index: number): number {
    return this.values[index]!;
  }
  get bytes(): number {
    return this.values.byteLength;
  }
}

class UnsignedColumn implements Column {
  private readonly notKnown: number;
  constructor(private readonly values: Unsigned) {
    this.notKnown = notKnownIn(values);
  }
  get(index: number): number {
    const value = this.values[index]!;
    return value === this.notKnown ? Number.NaN : value;
  }
  get bytes(): number {
    return this.values.byteLength;
  }
}

class TableColumn implements Column {
  constructor(
    private readonly table: Float64Array,
    private readonly indices: Unsigned,
  ) {}
  get(index: number): number {
    return this.table[this.indices[index]!]!;
  }
  get bytes(): number {
    return this.table.byteLength + this.indices.byteLength;
  }
}

/** Digits 0–100 and a power of ten in −128…127; NaN as the digits 255. */
const NOT_KNOWN_DIGITS = 255;

class TwoDigitColumn implements Column {
  constructor(
    private readonly digits: Uint8Array,
    private readonly powers: Int8Array,
  ) {}
  get(index: number): number {
    const digits = this.digits[index]!;
    if (digits === NOT_KNOWN_DIGITS) return Number.NaN;
    // The same operation as `roundRate`'s last step, so the same double.
    return digits * 10 ** this.powers[index]!;
  }
  get bytes(): number {
    return this.digits.byteLength + this.powers.byteLength;
  }
}

/** Where the values of one field lie in a row-major scratch array. */
interface Strided {
  values: Float64Array;
  count: number;
  stride: number;
  offset: number;
}

const valueAt = (source: Strided, index: number): number =>
  source.values[index * source.stride + source.offset]!;

function float64Column(source: Strided): Column {
  const values = new Float64Array(source.count);
  for (let index = 0; index < source.count; index += 1) values[index] = valueAt(source, index);
  return new Float64Column(values);
}

/** An unsigned array of the narrowest width whose largest value lies above every value. */
function narrowest(count: number, largest: number): Unsigned {
  if (largest < 0xff) return new Uint8Array(count);
  if (largest < 0xffff) return new Uint16Array(count);
  return new Uint32Array(count);
}

/** The value an unsigned array holds for "not known": its largest. */
const notKnownIn = (values: Unsigned): number => 2 ** (values.BYTES_PER_ELEMENT * 8) - 1;

/**
 * Whole numbers and NaN in the narrowest unsigned array that holds them (a queue that is empty:
 * one byte; a counter: up to four), anything else — past 2³² − 2, negative, fractional, −0 — as
 * Float64.
 */
export function countColumn(source: Strided): Column {
  let largest = 0;
  for (let index = 0; index < source.count; index += 1) {
    const value = valueAt(source, index);
    if (Number.isNaN(value)) continue;
    if (!Number.isInteger(value) || value < 0 || value >= 0xffff_ffff || Object.is(value, -0)) {
      return float64Column(source);
    }
    if (value > largest) largest = value;
  }
  const values = narrowest(source.count, largest);
  const notKnown = notKnownIn(values);
  for (let index = 0; index < source.count; index += 1) {
    const value = valueAt(source, index);
    values[index] = Number.isNaN(value) ? notKnown : value;
  }
  return new UnsignedColumn(values);
}

/** Each value as an index into a table of the distinct values (few: a node's reading times). */
export function timeColumn(source: Strided): Column {
  const slots = new Map<number, number>();
  const table: number[] = [];
  const indices = new Uint32Array(source.count);
  for (let index = 0; index < source.count; index += 1) {
    const value = valueAt(source, index);
    // Map keys are compared by SameValueZero: −0 would come back as 0.
    if (Object.is(value, -0)) return float64Column(source);
    let slot = slots.get(value);
    if (slot === undefined) {
      slot = table.length;
      slots.set(value, slot);
      table.push(value);
    }
    indices[index] = slot;
  }
  // A node's links share a few reading times: one byte an index, almost always.
  const narrow = narrowest(source.count, table.length);
  narrow.set(indices);
  return new TableColumn(Float64Array.from(table), narrow);
}

/**
 * Rates rounded to two significant digits as `digits × 10 ** power`; a value that is not of that
 * form (read back from the digits and power it would have) sends the column to Float64.
 */
export function rateColumn(source: Strided): Column {
  const digits = new Uint8Array(source.count);
  const powers = new Int8Array(source.count);
  for (let index = 0; index < source.count; index += 1) {
    const value = valueAt(source, index);
    if (Number.isNaN(value)) {
      digits[index] = NOT_KNOWN_DIGITS;
      continue;
    }
    if (value === 0 && !Object.is(value, -0)) continue;
    if (!(value > 0) || !Number.isFinite(value)) return float64Column(source);
    const power = Math.floor(Math.log10(value)) - 1;
    const digit = Math.round(value / 10 ** power);
    if (power < -128 || power > 127 || digit > 100 || digit * 10 ** power !== value) {
      return float64Column(source);
    }
    digits[index] = digit;
    powers[index] = power;
  }
  return new TwoDigitColumn(digits, powers);
}

/** How each field of a row is packed. */
export type FieldPacking = 'time' | 'count' | 'rate';

/** Rows of numbers, each field packed as its {@link FieldPacking} says. */
export class PackedRows {
  private constructor(
    private readonly columns: readonly Column[],
    readonly count: number,
  ) {}

  static readonly EMPTY = new PackedRows([], 0);

  /** Packs the first `count` rows of `values` (row-major, `packing.length` numbers a row). */
  static pack(values: Float64Array, count: number, packing: readonly FieldPacking[]): PackedRows {
    const stride = packing.length;
    const columns = packing.map((kind, offset) => {
      const source = { values, count, stride, offset };
      return kind === 'time'
        ? timeColumn(source)
        : kind === 'count'
          ? countColumn(source)
          : rateColumn(source);
    });
    return new PackedRows(columns, count);
  }

  /** Field `field` of row `row`: the number written, exactly. */
  get(row: number, field: number): number {
    return this.columns[field]!.get(row);
  }

  /** Bytes held by the columns' arrays. */
  get bytes(): number {
    return this.columns.reduce((sum, column) => sum + column.bytes, 0);
  }
}
