/**
 * What every fuzz target shares: how many cases to run (env `BEAMSCOPE_FUZZ_RUNS`, 10,000 by
 * default, 1,000,000 under `npm run test:faults`), a per-case time bound, a heap-growth bound
 * checked after forced collections, and the record `scripts/reliability-report.mjs` reads from
 * `test/reliability/results/fuzz/<target>.json` when the env var is set.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import fc from 'fast-check';

/** Cases per target when `BEAMSCOPE_FUZZ_RUNS` is not set: the floor for `npm test`. */
export const DEFAULT_FUZZ_RUNS = 10_000;

/** Where the records go (gitignored); the report generator reads every `*.json` in it. */
export const FUZZ_RESULTS_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../reliability/results/fuzz',
);

/**
 * A synchronous case that burns more CPU than this fails: a hang shows up as one slow case, not
 * as a stuck run. CPU time, not wall time: on a shared 2-core machine a case may wait seconds
 * for a core without doing anything wrong.
 */
export const CASE_BOUND_MS = 2_000;
/** An asynchronous case (file or stream I/O) must settle within this much wall time. */
export const ASYNC_CASE_BOUND_MS = 15_000;

/** CPU time (user + system) of this process so far, ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * Heap growth allowed across a run (live heap after a full collection, measured once the
 * warm-up is over and again at the end). Interned atoms and JIT code account for a few MB;
 * anything that keeps per-case data alive grows without bound and crosses this at 1M cases.
 */
export const HEAP_GROWTH_LIMIT_BYTES = 48 * 1024 * 1024;

/** The total case count per target, from `BEAMSCOPE_FUZZ_RUNS` (a positive integer). */
export function fuzzRuns(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BEAMSCOPE_FUZZ_RUNS;
  if (raw === undefined || raw === '') return DEFAULT_FUZZ_RUNS;
  const runs = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(runs) || runs < 1) {
    throw new Error(`BEAMSCOPE_FUZZ_RUNS must be a positive integer, not "${raw}"`);
  }
  return runs;
}

/** Whether this run writes records (only when the count was asked for explicitly). */
export function recording(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.BEAMSCOPE_FUZZ_RUNS !== undefined && env.BEAMSCOPE_FUZZ_RUNS !== '';
}

/** `total` split over `weights` (same keys), every share at least 1, summing to `total`. */
export function splitRuns<K extends string>(
  total: number,
  weights: Record<K, number>,
): Record<K, number> {
  const keys = Object.keys(weights) as K[];
  const sum = keys.reduce((acc, key) => acc + weights[key], 0);
  const out = {} as Record<K, number>;
  let given = 0;
  keys.forEach((key, index) => {
    const share =
      index === keys.length - 1
        ? Math.max(1, total - given)
        : Math.max(1, Math.floor((total * weights[key]) / sum));
    out[key] = share;
    given += share;
  });
  return out;
}

/**
 * A generous Vitest timeout for `runs` cases of about `msPerCase` each (CPU on an idle core).
 * Only a safety net — a hang fails the case that hangs, under the per-case bound — so it allows
 * for a 2-core machine shared with a dozen other processes (wall time 3–5× the CPU time).
 */
export function timeoutFor(runs: number, msPerCase: number): number {
  return Math.max(120_000, Math.ceil(runs * msPerCase * 15) + 60_000);
}

let collect: (() => void) | undefined;

/** A full collection, so heap figures are live data and not garbage waiting for a GC. */
export async function forceGc(): Promise<void> {
  if (!collect) {
    // Vitest workers do not run with --expose-gc; the flag still works when set at run time,
    // and a fresh context then exposes `gc`.
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
  // FinalizationRegistry callbacks (the atom table drops its entries for collected atoms there)
  // run in later tasks, never inside a synchronous run of cases, and in batches: a run that
  // decoded 300,000 random atoms holds ~100 MB of table entries until they have all run. Let
  // them run, collecting in between, until the heap stops shrinking.
  let before = process.memoryUsage().heapUsed;
  for (let round = 0; round < 50; round++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    collect();
    const now = process.memoryUsage().heapUsed;
    if (now >= before - 64 * 1024) break;
    before = now;
  }
}

export interface PropertyRecord {
  name: string;
  cases: number;
  failures: number;
  /** Wall time. */
  durationMs: number;
  /** CPU time of this process meanwhile (what the cases cost, whatever else ran). */
  cpuMs: number;
  /** The slowest case: CPU ms for synchronous properties, wall ms for asynchronous ones. */
  maxCaseMs: number;
}

export interface FailureRecord {
  property: string;
  seed: number;
  path?: string;
  counterexample: string;
  error: string;
}

/** The record of one target (the format scripts/reliability-report.mjs reads). */
export interface FuzzRecord {
  /** The target as the report names it ("term decoder"); the file is `<slug>.json`. */
  target: string;
  slug: string;
  /** Cases run (as scripts/reliability-report.mjs reads it; the same as `cases`). */
  runs: number;
  /** `long` at 1,000,000 cases or more (npm run test:faults), else `quick`. */
  mode: 'quick' | 'long';
  /** Cases asked for (BEAMSCOPE_FUZZ_RUNS or the default). */
  requestedCases: number;
  /** Cases run (the sum over the target's properties; below requested only on a failure). */
  cases: number;
  failures: number;
  durationMs: number;
  /** Wall time per 1,000,000 cases, extrapolated from this run. */
  msPerMillion: number;
  /** CPU time of the cases, and per 1,000,000 (the figure that does not depend on the load). */
  cpuMs: number;
  cpuMsPerMillion: number;
  maxCaseMs: number;
  caseBoundMs: number;
  asyncCaseBoundMs: number;
  heap: { warmBytes: number; endBytes: number; growthBytes: number; limitBytes: number };
  properties: PropertyRecord[];
  failureDetails: FailureRecord[];
  seed: number;
  node: string;
  date: string;
}

/** Times one case (CPU); fails it when it burnt more than the bound. */
function bounded<A extends unknown[]>(
  stats: { maxCaseMs: number },
  predicate: (...args: A) => void,
): (...args: A) => void {
  return (...args: A) => {
    const start = cpuMs();
    predicate(...args);
    const took = cpuMs() - start;
    if (took > stats.maxCaseMs) stats.maxCaseMs = took;
    if (took > CASE_BOUND_MS) {
      throw new Error(`one case took ${took.toFixed(0)} ms of CPU (bound ${CASE_BOUND_MS} ms)`);
    }
  };
}

/** Times one async case (wall) and fails it when it does not settle within the bound. */
function boundedAsync<A extends unknown[]>(
  stats: { maxCaseMs: number },
  predicate: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`one case did not settle within ${ASYNC_CASE_BOUND_MS} ms`)),
        ASYNC_CASE_BOUND_MS,
      );
    });
    try {
      await Promise.race([predicate(...args), hang]);
    } finally {
      clearTimeout(timer);
    }
    const took = performance.now() - start;
    if (took > stats.maxCaseMs) stats.maxCaseMs = took;
  };
}

/**
 * One fuzz target: its properties run through `fc.check` (so a failure is recorded before the
 * test fails), each case under the time bound, with the heap measured after a warm-up and at
 * the end. Call {@link finish} from `afterAll`.
 */
export class FuzzTarget {
  readonly requested = fuzzRuns();
  readonly seed: number;
  private readonly properties: PropertyRecord[] = [];
  private readonly failures: FailureRecord[] = [];
  private warmHeap: number | undefined;

  constructor(
    /** The file name (`<slug>.json`). */
    readonly slug: string,
    /** What the report calls it. */
    readonly title: string,
  ) {
    const fixed = process.env.BEAMSCOPE_FUZZ_SEED;
    this.seed = fixed ? Number(fixed) : (Date.now() ^ (Math.random() * 0x7fff_ffff)) | 0;
  }

  /** `total` cases of `weights`' properties, split by weight. */
  split<K extends string>(weights: Record<K, number>): Record<K, number> {
    return splitRuns(this.requested, weights);
  }

  /** Runs a synchronous property for `runs` cases; throws (after recording) on failure. */
  check<Ts extends [unknown, ...unknown[]]>(
    name: string,
    runs: number,
    arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
    predicate: (...args: Ts) => void,
  ): void {
    const stats = { maxCaseMs: 0 };
    const property = fc.property(...arbitraries, bounded(stats, predicate));
    const start = performance.now();
    const cpuStart = cpuMs();
    const details = fc.check(property, this.options(runs));
    this.settle(name, details, stats, performance.now() - start, cpuMs() - cpuStart);
  }

  /** Runs an asynchronous property for `runs` cases; throws (after recording) on failure. */
  async checkAsync<Ts extends [unknown, ...unknown[]]>(
    name: string,
    runs: number,
    arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
    predicate: (...args: Ts) => Promise<void>,
  ): Promise<void> {
    const stats = { maxCaseMs: 0 };
    const property = fc.asyncProperty(...arbitraries, boundedAsync(stats, predicate));
    const start = performance.now();
    const cpuStart = cpuMs();
    const details = await fc.check(property, this.options(runs));
    this.settle(name, details, stats, performance.now() - start, cpuMs() - cpuStart);
  }

  /**
   * Takes the warm heap figure: call after a first property ran (modules loaded, atoms and
   * JIT code in place), so growth measures what the rest of the run keeps alive.
   */
  async markWarm(): Promise<void> {
    await forceGc();
    this.warmHeap = process.memoryUsage().heapUsed;
  }

  /** The heap figures, and whether the growth stays under the limit. */
  async heap(): Promise<FuzzRecord['heap']> {
    await forceGc();
    const endBytes = process.memoryUsage().heapUsed;
    const warmBytes = this.warmHeap ?? endBytes;
    return {
      warmBytes,
      endBytes,
      growthBytes: endBytes - warmBytes,
      limitBytes: HEAP_GROWTH_LIMIT_BYTES,
    };
  }

  /** Writes the record when BEAMSCOPE_FUZZ_RUNS is set; returns it either way. */
  async finish(): Promise<FuzzRecord> {
    const cases = this.properties.reduce((acc, property) => acc + property.cases, 0);
    const durationMs = this.properties.reduce((acc, property) => acc + property.durationMs, 0);
    const cpu = this.properties.reduce((acc, property) => acc + property.cpuMs, 0);
    const record: FuzzRecord = {
      target: this.title,
      slug: this.slug,
      runs: cases,
      mode: this.requested >= 1_000_000 ? 'long' : 'quick',
      requestedCases: this.requested,
      cases,
      failures: this.failures.length,
      durationMs: Math.round(durationMs),
      msPerMillion: cases > 0 ? Math.round((durationMs / cases) * 1_000_000) : 0,
      cpuMs: cpu,
      cpuMsPerMillion: cases > 0 ? Math.round((cpu / cases) * 1_000_000) : 0,
      maxCaseMs: Math.round(Math.max(0, ...this.properties.map((property) => property.maxCaseMs))),
      caseBoundMs: CASE_BOUND_MS,
      asyncCaseBoundMs: ASYNC_CASE_BOUND_MS,
      heap: await this.heap(),
      properties: this.properties,
      failureDetails: this.failures,
      seed: this.seed,
      node: process.version,
      date: new Date().toISOString(),
    };
    if (record.heap.growthBytes > HEAP_GROWTH_LIMIT_BYTES) {
      record.failures += 1;
      record.failureDetails.push({
        property: 'heap',
        seed: this.seed,
        counterexample: '',
        error: `the heap grew by ${record.heap.growthBytes} bytes over the run (limit ${HEAP_GROWTH_LIMIT_BYTES})`,
      });
    }
    if (recording()) {
      await mkdir(FUZZ_RESULTS_DIR, { recursive: true });
      await writeFile(
        join(FUZZ_RESULTS_DIR, `${this.slug}.json`),
        `${JSON.stringify(record, null, 2)}\n`,
      );
    }
    return record;
  }

  private options(runs: number): fc.Parameters<unknown> {
    // One seed per target, shifted per property, so a failure replays with BEAMSCOPE_FUZZ_SEED.
    return { numRuns: runs, seed: this.seed + this.properties.length, endOnFailure: true };
  }

  private settle(
    name: string,
    details: fc.RunDetails<unknown>,
    stats: { maxCaseMs: number },
    durationMs: number,
    cpu: number,
  ): void {
    this.properties.push({
      name,
      cases: details.numRuns,
      failures: details.failed ? 1 : 0,
      durationMs: Math.round(durationMs),
      cpuMs: Math.round(cpu),
      maxCaseMs: Math.round(stats.maxCaseMs * 10) / 10,
    });
    if (!details.failed) return;
    const error = details.errorInstance;
    const failure: FailureRecord = {
      property: name,
      seed: details.seed,
      counterexample: fc.stringify(details.counterexample).slice(0, 2_000),
      error: (error instanceof Error ? error.message : String(error)).slice(0, 2_000),
    };
    if (details.counterexamplePath) failure.path = details.counterexamplePath;
    this.failures.push(failure);
    throw new Error(
      `${this.title} / ${name}: failed after ${details.numRuns} cases (seed ${details.seed}, path ${details.counterexamplePath})\n` +
        `counterexample: ${failure.counterexample}\n${failure.error}`,
      { cause: error },
    );
  }
}
