import 'server-only';

// How the SQL stores keep row bodies on disk. The demo's churn at 100 nodes is ~660 MB a day of
// deltas as JSON: every probe changes every member's counters, and each delta repeats every
// member's key and field names around a few changed numbers. Stored as is, a day is 20× the
// 50 MB goal; deflated one by one (~9×), still more than it. So:
//
// - keyframes (and anything else written whole) are their JSON compressed (`0x02` + zstd);
// - deltas form chains: a delta is stored as its "shape" — its JSON with the integer fields of
//   its `set` and of each member's beam taken out — and those integers as varints, each the
//   difference from the same member's same field in the chain's previous delta. The whole is
//   compressed with zstd against the chain's last distinct shapes as the dictionary: a probe's
//   shape is the previous one's, a scenario step's repeats the last step of its kind, so what
//   is left is mostly the numbers' own entropy. A chain starts again after every keyframe, so
//   the deltas `stateAt` hands back with a keyframe are always whole chains (`0x01`).
//
// Bodies written before this (JSON text, a `{` first) still read. The recorded form is still the
// compact wire form (lib/peer-wire.ts): this only changes how its bytes are kept. zstd runs
// through one reused pair of contexts (zstd.ts: why not Node's zlib), loaded when a store opens.

import type { WireClusterDelta } from '@/lib/peer-wire';

import type { RecordedDelta } from './store';
import { ByteReader, ByteWriter } from './varint';
import { zstdCompress, zstdDecompress } from './zstd';

const DELTA_CHAIN = 0x01;
const COMPRESSED_JSON = 0x02;

/** A value as a compressed JSON body. */
export function encodeJsonBody(value: unknown): Buffer {
  const json = JSON.stringify(value);
  if (json === undefined) throw new Error('history body: nothing to store');
  return encodeJsonText(json);
}

/** A value's JSON text (`JSON.stringify`'s, made already) as a compressed JSON body. */
export function encodeJsonText(json: string): Buffer {
  return Buffer.concat([Uint8Array.of(COMPRESSED_JSON), zstdCompress(Buffer.from(json))]);
}

const COMPRESSED_EVENT = 0x04;

/**
 * What timeline events repeat from one to the next: their keys, kinds, severities and message
 * templates. An event is ~220 bytes of JSON, too short for zstd to find much in it alone; with
 * this as the dictionary ~45 % of it goes. Fixed: a stored event names it by its first byte, so
 * a different dictionary needs a new one.
 */
const EVENT_DICTIONARY = Buffer.from(
  [
    '{"kind":"member_joined","severity":"info","message":"pod ',
    ' joined","key":"',
    '{"kind":"member_left","severity":"info","message":"pod ',
    ' left","key":"',
    '{"kind":"node_up","severity":"info","message":"node ',
    ' is up","key":"',
    '{"kind":"node_down","severity":"error","message":"node ',
    ' is down: ',
    '{"kind":"pod_ready","severity":"info","message":"',
    '{"kind":"pod_unready","severity":"warning","message":"',
    '{"kind":"pod_terminating","severity":"info","message":"',
    '{"kind":"link_up","severity":"info","message":"',
    '{"kind":"link_down","severity":"warning","message":"',
    '{"kind":"partition_detected","severity":"error","message":"partition detected: ',
    '{"kind":"partition_healed","severity":"info","message":"partition healed: ',
    ' nodes rejoined, ',
    ' links up","sides":[{"count":',
    ' links down","sides":[{"count":',
    ',"sample":["',
    '"]}],"sideCount":2,"links":{"count":',
    '{"kind":"registry_changed","severity":"info","message":"',
    '{"kind":"registry_rebalanced","severity":"info","message":"',
    '{"kind":"registry_diverged","severity":"warning","message":"',
    '{"kind":"registry_converged","severity":"info","message":"',
    '{"kind":"kubernetes_event","severity":"warning","message":"',
    '{"kind":"observation_gap","severity":"warning","message":"beamscope was not observing ',
    '{"kind":"down_cause","severity":"error","message":"',
    '","cause":{"',
    '","node":"',
    '","pod":"',
    '","link":["',
    '","seq":',
    ',"at":',
  ].join(''),
);

/** A timeline event as a compressed body. */
export function encodeEventBody(event: unknown): Buffer {
  const json = JSON.stringify(event);
  if (json === undefined) throw new Error('history body: nothing to store');
  return Buffer.concat([
    Uint8Array.of(COMPRESSED_EVENT),
    zstdCompress(Buffer.from(json), EVENT_DICTIONARY),
  ]);
}

/** A body as stored: compressed JSON, or JSON text as bodies were written before. */
export function decodeJsonBody<T>(body: string | Uint8Array): T {
  if (typeof body === 'string') return JSON.parse(body) as T;
  if (body[0] === COMPRESSED_JSON)
    return JSON.parse(zstdDecompress(body.subarray(1)).toString()) as T;
  if (body[0] === COMPRESSED_EVENT) {
    const json = zstdDecompress(body.subarray(1), EVENT_DICTIONARY);
    return JSON.parse(json.toString()) as T;
  }
  return JSON.parse(Buffer.from(body).toString()) as T;
}

/** Where a chain stands after one of its deltas: what the next one is written against. */
interface ChainLink {
  run: string;
  seq: number;
  /** The delta's shape as stored. */
  shape: Buffer;
  /** The next shape's dictionary: the chain's last distinct shapes, the newest last. */
  dictionary: Buffer;
  /** The last value of each (member, field) written in the chain. */
  values: Map<string, number>;
}

interface EncoderState {
  link: ChainLink | null;
  /** The newest keyframe stored for the link's run: a delta after it starts a new chain. */
  keyframeSeq: number | null;
}

/** The values of the delta's `set` (not a member key: those are node names). */
const SET_KEY = '\u0001set';

const valueKey = (member: string, field: string) => `${member}\u0000${field}`;

/** The integers a chain carries outside the shape: a member's beam fields holding one. */
const carried = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0);

/** Writes deltas as chains, one per cluster. */
export class DeltaChainEncoder {
  private readonly states = new Map<string, EncoderState>();

  /** Every chain starts again (the store was reopened: what it last wrote is not known). */
  forgetAll(): void {
    this.states.clear();
  }

  /**
   * The bodies of a batch's deltas (in the order given), and `commit` to call once they are
   * stored: a batch that fails leaves the chain where it was, so its retry writes the same.
   */
  encodeBatch(
    clusterId: string,
    deltas: readonly RecordedDelta[],
    keyframes: ReadonlyArray<{ run: string; seq: number }>,
  ): EncodedBatch {
    const encoding = this.encoding(clusterId, deltas, keyframes);
    for (let step = encoding.next(); ; step = encoding.next()) if (step.done) return step.value;
  }

  /**
   * {@link encodeBatch}, giving the event loop a turn whenever it has held it for
   * `turnMs`: a second of a large cluster's deltas takes tens of milliseconds to encode, and the
   * live push must not wait for it. One delta of 100 nodes takes ~0.8 ms (p99 3.4 ms, zstd's
   * level 9 against the chain's shapes), ~16 ms a second at a change every 50 ms: in turns of
   * 4 ms (and the step that crossed them) a push fell due inside one ~2 % of the time and waited
   * up to ~10 ms, which lifted the push's p99 with recording on. A turn now ends after 1 ms, so a
   * push waits for one delta's encoding at most.
   */
  async encodeBatchInTurns(
    clusterId: string,
    deltas: readonly RecordedDelta[],
    keyframes: ReadonlyArray<{ run: string; seq: number }>,
    turnMs = 1,
  ): Promise<EncodedBatch> {
    const encoding = this.encoding(clusterId, deltas, keyframes);
    let turnStarted = performance.now();
    for (let step = encoding.next(); ; step = encoding.next()) {
      if (step.done) return step.value;
      if (performance.now() - turnStarted >= turnMs) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        turnStarted = performance.now();
      }
    }
  }

  private *encoding(
    clusterId: string,
    deltas: readonly RecordedDelta[],
    keyframes: ReadonlyArray<{ run: string; seq: number }>,
  ): Generator<void, EncodedBatch> {
    const before = this.states.get(clusterId) ?? { link: null, keyframeSeq: null };
    let link = before.link;
    let keyframeSeq = before.keyframeSeq;
    const bodies: Buffer[] = [];
    for (const recorded of deltas) {
      const sameRun = link !== null && link.run === recorded.run;
      const keyframeSince = [
        ...(sameRun ? [keyframeSeq] : []),
        ...keyframes.filter((frame) => frame.run === recorded.run).map((frame) => frame.seq),
      ].some((seq) => seq !== null && link !== null && seq >= link.seq && seq < recorded.seq);
      const base = sameRun && !keyframeSince && recorded.seq > link!.seq ? link : null;
      if (!sameRun) keyframeSeq = null;
      // The committed link's values are copied once: a failed batch must leave them as they were.
      const values =
        base === null
          ? new Map<string, number>()
          : base === before.link
            ? new Map(base.values)
            : base.values;
      const { body, next } = encodeDelta(recorded, base, values);
      link = next;
      bodies.push(body);
      yield;
    }
    for (const frame of keyframes) {
      if (link && frame.run === link.run)
        keyframeSeq = Math.max(keyframeSeq ?? frame.seq, frame.seq);
    }
    const committed = { link, keyframeSeq };
    return { bodies, commit: () => this.states.set(clusterId, committed) };
  }
}

/** A batch's delta bodies, and `commit` to call once they are stored. */
export interface EncodedBatch {
  bodies: Buffer[];
  commit: () => void;
}

function encodeDelta(
  recorded: RecordedDelta,
  base: ChainLink | null,
  /** The chain's values so far, updated in place. */
  values: Map<string, number>,
): { body: Buffer; next: ChainLink } {
  const fields: string[] = [];
  const fieldIndex = new Map<string, number>();
  const masks: number[] = [];
  const columns: Array<Array<{ key: string; value: number }>> = [];
  /** `owner` without its integers, which go to the columns; `owner` itself is not changed. */
  const carry = <T>(owner: T, key: string): T => {
    let mask = 0;
    if (!owner || typeof owner !== 'object') {
      masks.push(0);
      return owner;
    }
    const rest: Record<string, unknown> = { ...(owner as Record<string, unknown>) };
    for (const [field, value] of Object.entries(owner)) {
      if (!carried(value)) continue;
      let index = fieldIndex.get(field);
      if (index === undefined) {
        index = fields.length;
        fields.push(field);
        fieldIndex.set(field, index);
        columns.push([]);
      }
      mask += 2 ** index;
      // Out of the shape altogether: which fields changed is the masks' business, so a probe's
      // shape is the last one's again (the fields come back after the others).
      delete rest[field];
      columns[index]!.push({ key: valueKey(key, field), value });
    }
    masks.push(mask);
    return rest as T;
  };
  // The state's own fields first (its `at` moves with every probe), then each member's beam.
  const set = carry(recorded.delta.set, SET_KEY);
  const changed = recorded.delta.changed.map((patch) =>
    patch.beam ? { ...patch, beam: carry(patch.beam, patch.key) } : (masks.push(0), patch),
  );
  const shape = Buffer.from(JSON.stringify({ d: { ...recorded.delta, set, changed }, f: fields }));
  const numbers = new ByteWriter();
  for (const mask of masks) numbers.uint(mask);
  for (const column of columns) {
    for (const { key, value } of column) {
      numbers.int(value - (values.get(key) ?? 0));
      values.set(key, value);
    }
  }
  const payload = Buffer.concat([
    new ByteWriter().uint(shape.length).toBuffer(),
    shape,
    numbers.toBuffer(),
  ]);
  const packed = zstdCompress(
    payload,
    base?.dictionary,
    payload.length <= SMALL_DELTA_BYTES ? SMALL_DELTA_LEVEL : undefined,
  );
  const head = new ByteWriter().raw(Uint8Array.of(DELTA_CHAIN)).uint(base ? base.seq + 1 : 0);
  return {
    body: Buffer.concat([head.toBuffer(), packed]),
    next: {
      run: recorded.run,
      seq: recorded.seq,
      shape,
      values,
      dictionary: nextDictionary(base, shape),
    },
  };
}

/**
 * The dictionary's bound: room for the shapes of the demo's scenario steps at 100 nodes (a
 * partition's or a scale-up's delta repeats the last one's registries and member lists, 10 to
 * 45 KB each) behind the probes' own.
 */
const DICTIONARY_BYTES = 256 * 1024;

/**
 * A delta's payload up to this size is compressed at `SMALL_DELTA_LEVEL` rather than zstd's
 * default: a probe's delta at 100 nodes (a few KB before compression) came out ~10 % smaller at
 * a fraction of a millisecond more, one every 2 s; a large cluster's deltas stay at the default.
 */
const SMALL_DELTA_BYTES = 32 * 1024;
const SMALL_DELTA_LEVEL = 9;

/**
 * The chain's dictionary after `shape`: the last one with `shape` added when it is new. A probe's
 * shape repeats the last; a scenario step's (a partition, a scale-up) is kept behind it, so the
 * next step of the same kind finds its member lists there.
 */
function nextDictionary(base: ChainLink | null, shape: Buffer): Buffer {
  if (base && base.shape.equals(shape)) return base.dictionary;
  const joined = base ? Buffer.concat([base.dictionary, shape]) : shape;
  return joined.length > DICTIONARY_BYTES
    ? joined.subarray(joined.length - DICTIONARY_BYTES)
    : joined;
}

/**
 * Reads deltas back in the order they were stored. Returns null for a delta that follows one
 * this decoder has not read (its chain began before the rows asked for).
 */
export class DeltaChainDecoder {
  private readonly links = new Map<string, ChainLink>();

  decode(run: string, seq: number, body: string | Uint8Array): WireClusterDelta | null {
    if (typeof body === 'string' || body[0] !== DELTA_CHAIN) return decodeJsonBody(body);
    const head = new ByteReader(body.subarray(1));
    const baseSeq = head.uint() - 1;
    const base = baseSeq < 0 ? null : this.links.get(run);
    if (baseSeq >= 0 && base?.seq !== baseSeq) return null;
    const rest = body.subarray(1 + varintLength(baseSeq + 1));
    const payload = new ByteReader(zstdDecompress(rest, base?.dictionary));
    const shape = Buffer.from(payload.take(payload.uint()));
    const { d: delta, f: fields } = JSON.parse(shape.toString()) as {
      d: WireClusterDelta;
      f: string[];
    };
    // Read in order, never rolled back: the chain's values are updated in place.
    const values = base?.values ?? new Map<string, number>();
    const owners: Array<[string, Record<string, unknown> | null | undefined]> = [
      [SET_KEY, delta.set as Record<string, unknown> | undefined],
      ...delta.changed.map(
        (patch) =>
          [patch.key, patch.beam as Record<string, unknown> | null | undefined] as [
            string,
            Record<string, unknown> | null | undefined,
          ],
      ),
    ];
    const masks = owners.map(() => payload.uint());
    fields.forEach((field, index) => {
      owners.forEach(([key, owner], position) => {
        if (!owner || Math.floor(masks[position]! / 2 ** index) % 2 === 0) return;
        const valueAt = valueKey(key, field);
        const value = payload.int() + (values.get(valueAt) ?? 0);
        values.set(valueAt, value);
        owner[field] = value;
      });
    });
    this.links.set(run, {
      run,
      seq,
      shape,
      values,
      dictionary: nextDictionary(base ?? null, shape),
    });
    return delta;
  }
}

function varintLength(value: number): number {
  let length = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) length += 1;
  return length;
}
