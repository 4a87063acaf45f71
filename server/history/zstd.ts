import 'server-only';

// zstd for the history bodies (body-codec.ts, point-blocks.ts) through ONE compression and ONE
// decompression context, made once and reused for every body of every store in this process.
//
// Why not Node's own `zlib.zstdCompressSync`: each call makes a native compression context
// (megabytes of match tables, more with a dictionary) that is freed only when the garbage
// collector reaches its JS handle — and since V8 does not see that memory, it is in no hurry.
// Under a storm of small writes (the reliability suite's readiness flips, recorded to SQLite)
// the server's RSS grew 100–200 MB; a loop of 20,000 calls here reaches 0.5 GB without a
// dictionary and 1.5 GB with the chains' 256 KB one. Closing the stream by hand does not help
// (the handle is already closed when the sync call returns). zstd compiled to WebAssembly
// (@bokuweb/zstd-wasm, the reference C library) lets us hold the contexts ourselves: its heap
// grows to the largest body's need and stays there (the same loop stays at ~105 MB RSS, the
// runtime's own included), and reusing a context spares a fresh one's setup, so it is also
// faster than Node's per call (0.7 against 2.3 ms for a 45 KB body with a 256 KB dictionary).
// The frames are standard zstd, the same bytes Node writes, so bodies written before still read.
//
// The WebAssembly module loads asynchronously: stores call `loadZstd()` in `open()`, before
// anything is encoded or decoded; the codec functions throw when it was not.

import {
  compressUsingDict,
  createCCtx,
  createDCtx,
  decompressUsingDict,
  init,
} from '@bokuweb/zstd-wasm';

/** zstd's default level: the figures in docs/performance.md were measured with it. */
const LEVEL = 3;

const NO_DICTIONARY = new Uint8Array(0);

interface Contexts {
  compress: number;
  decompress: number;
}

let contexts: Contexts | null = null;
let loading: Promise<void> | null = null;

/** Loads the WebAssembly module and makes the two contexts; once per process. */
export function loadZstd(): Promise<void> {
  loading ??= init().then(() => {
    contexts = { compress: createCCtx(), decompress: createDCtx() };
  });
  return loading;
}

function loaded(): Contexts {
  if (!contexts) throw new Error('history bodies: zstd is not loaded (loadZstd() first)');
  return contexts;
}

/**
 * `data` as one zstd frame (its size in the header), against `dictionary` when one is given, at
 * `level` (zstd's default unless a caller has measured better).
 */
export function zstdCompress(
  data: Uint8Array,
  dictionary: Uint8Array = NO_DICTIONARY,
  level = LEVEL,
): Buffer {
  const packed = compressUsingDict(loaded().compress, data, dictionary, level);
  return Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
}

/** A zstd frame's content, read with the dictionary it was written against. */
export function zstdDecompress(frame: Uint8Array, dictionary: Uint8Array = NO_DICTIONARY): Buffer {
  const data = decompressUsingDict(loaded().decompress, frame, dictionary);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
