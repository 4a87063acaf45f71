import 'server-only';

// How far V8 lets the server's heap grow between full collections.

import { setFlagsFromString } from 'node:v8';

/**
 * The old generation may grow this much (in %) past what survived the last full collection
 * before the next one. V8's own factor is up to 4× on a machine with room for a large heap, so
 * the RSS of a long-running server follows its live heap times four: at 1,000 simulated nodes a
 * collector with about 150 MB live reached 610 MB of RSS, and 298 MB with 50 % (one run each,
 * `bench/probe-scale.ts`, docs/performance.md). The price is a full collection a few times as
 * often; its marking runs concurrently, and the bench's CPU share did not move (32.8 % and
 * 31.9 % of a core).
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Sets V8's heap growing factor for this process (read at every full collection, so setting it
 * at start-up takes effect), unless the process was started with its own.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((arg) => arg.startsWith('--heap-growing-percent'))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
