import 'server-only';

// One code scan of a node: its running applications with their versions, and the md5 of every
// loaded module of those applications, read in bounded chunks. Four catalogue calls (and one per
// chunk), each a BIF or an ETS read on the node: no code is loaded and no atom is created there —
// the only atoms sent are the node's own, as it reported them.

import { createHash, type Hash } from 'node:crypto';

import { atom, type Atom } from '../codec/terms';
import {
  applicationModulesProbe,
  loadedModuleNames,
  loadedModulesProbe,
  md5Chunk,
  moduleMd5Probe,
  runningApplicationsProbe,
  type Md5Chunk,
} from './catalogue';
import { toProbeError, type ProbeError } from './reply';
import { callProbe, PROBE_TIMEOUT_MS, type RpcFunction } from './run';

/** Modules whose md5 one call reads by default: ~20 kB each way, well under a millisecond. */
export const DEFAULT_MD5_CHUNK = 1000;

/** No node's scan keeps more modules than this; the rest are left out (and said so). */
export const MAX_SCANNED_MODULES = 50_000;

export interface CodeScanOptions {
  /** Timeout of each remote call, ms. */
  timeoutMs?: number;
  /** Modules per md5 call (default {@link DEFAULT_MD5_CHUNK}). */
  chunkSize?: number;
  /** Modules kept at most (default {@link MAX_SCANNED_MODULES}). */
  maxModules?: number;
  /**
   * Module lists already read, by application and version (see {@link ModuleListCache}): a
   * cluster of one build asks `application:get_key/2` of its first node only.
   */
  moduleLists?: ModuleListCache;
}

/**
 * What the scans of one cluster share. Module lists by `name@version`: the `modules` key of a
 * loaded application comes from its `.app` file, so nodes that run the same version list the
 * same modules (names only). And scan plans: the modules a node's scan reads and the md5 calls'
 * arguments, encoded once, keyed by the node's applications and the exact bytes of its
 * `erlang:loaded()` reply — nodes of one release send the same bytes, so the second node of a
 * build decodes no module list, sorts nothing and encodes no atom. The atoms sent to a node are
 * always atoms of its own `erlang:loaded()` (equal bytes, equal atoms), so no atom reaches a node
 * that did not report it.
 */
export class ModuleListCache {
  private readonly lists = new Map<string, readonly string[]>();
  private readonly plans = new Map<string, ScanPlan>();
  constructor(
    private readonly maxEntries = 4096,
    /** Plans kept: each holds a module list and its encoded calls (≈ 0.3 MB at 5,000 modules). */
    private readonly maxPlans = 32,
  ) {}

  get(app: string, version: string): readonly string[] | undefined {
    return this.lists.get(`${app}@${version}`);
  }

  set(app: string, version: string, modules: readonly string[]): void {
    // Bounded: a cluster cycling through many versions starts afresh rather than growing.
    if (this.lists.size >= this.maxEntries) this.lists.clear();
    this.lists.set(`${app}@${version}`, modules);
  }

  /** The plan stored under `key`, if any. */
  plan(key: string): ScanPlan | undefined {
    return this.plans.get(key);
  }

  keepPlan(key: string, plan: ScanPlan): void {
    if (this.plans.size >= this.maxPlans) this.plans.clear();
    this.plans.set(key, plan);
  }
}

/**
 * What to read from nodes with one set of applications and one loaded-module list: the sorted
 * modules (after the cap) and their md5 calls.
 */
interface ScanPlan {
  modules: readonly string[];
  /** Modules over the cap. */
  overCap: number;
  chunks: Array<{ start: number; call: Md5Chunk }>;
  /** sha1 over the module names; a scan's signature continues it with the md5s. */
  namesHash: Hash;
  /** The md5s of the code sets seen under this plan, by signature: nodes share one array. */
  md5sBySignature: Map<string, readonly string[]>;
}

/** Code sets remembered per plan (a rolling deploy has two; more means churn). */
const MAX_SETS_PER_PLAN = 8;

/** What a code scan learned: the node's applications and its modules' md5s. */
export interface CodeScanResult {
  /** Running applications by name, sorted, with their versions. */
  applications: Array<{ name: string; version: string }>;
  /** Loaded modules of the running applications, sorted by name (shared: do not change it). */
  modules: readonly string[];
  /** Each module's md5 as hex, index for index with `modules` (shared, as `modules`). */
  md5s: readonly string[];
  /**
   * A digest of every `(module, md5)` pair: two nodes with the same signature run the same code,
   * so the skew is computed once per distinct code set, not once per node.
   */
  signature: string;
  /** Modules left out: over the cap, or in a chunk whose call failed (see `error`). */
  skipped: number;
  /** The first failure of a chunk, when some modules could not be read. */
  error: ProbeError | null;
}

/**
 * Scans one node's code. Fails (throws) only when the application list or the module lists
 * cannot be read; a chunk of md5s that fails (a module purged meanwhile, a timeout) is left out,
 * counted in `skipped`, and the rest of the scan stands.
 */
export async function scanCode(
  rpc: RpcFunction,
  options: CodeScanOptions = {},
): Promise<CodeScanResult> {
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_MD5_CHUNK);
  const maxModules = options.maxModules ?? MAX_SCANNED_MODULES;
  const cache = options.moduleLists ?? new ModuleListCache();
  const [{ applications }, loaded] = await Promise.all([
    callProbe(rpc, runningApplicationsProbe, timeoutMs),
    callProbe(rpc, loadedModulesProbe, timeoutMs),
  ]);
  const sortedApplications = applications
    .map((entry) => ({ name: entry.app.name, version: entry.version }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const key = [
    chunkSize,
    maxModules,
    createHash('sha256').update(loaded).digest('base64'),
    ...sortedApplications.map((app) => `${app.name}@${app.version}`),
  ].join('\n');
  let plan = cache.plan(key);
  if (!plan) {
    const made = await makePlan(rpc, applications, loaded, cache, {
      timeoutMs,
      chunkSize,
      maxModules,
    });
    plan = made.plan;
    // A plan from incomplete module lists (an application gone meanwhile) serves this scan only.
    if (made.complete) cache.keepPlan(key, plan);
  }

  let error: ProbeError | null = null;
  const digests: Buffer[] = [];
  const read: Array<{ start: number; count: number }> = [];
  // One chunk after the other: a node is never asked for more than one chunk at a time.
  for (const chunk of plan.chunks) {
    try {
      digests.push(await callProbe(rpc, moduleMd5Probe(chunk.call), timeoutMs));
      read.push({ start: chunk.start, count: chunk.call.count });
    } catch (failure) {
      error ??= toProbeError(failure);
    }
  }
  // One hex string for all, sliced per module (slices share its memory, and one conversion costs
  // a fraction of 5,000 small ones).
  const hex = Buffer.concat(digests).toString('hex');
  const whole = read.length === plan.chunks.length;
  const modules = whole
    ? plan.modules
    : read.flatMap((part) => plan.modules.slice(part.start, part.start + part.count));
  const signature = (whole ? plan.namesHash.copy() : createHash('sha1').update(modules.join('\n')))
    .update(hex)
    .digest('hex');
  let md5s = whole ? plan.md5sBySignature.get(signature) : undefined;
  if (!md5s) {
    md5s = modules.map((_, index) => hex.slice(index * 32, index * 32 + 32));
    if (whole) {
      if (plan.md5sBySignature.size >= MAX_SETS_PER_PLAN) plan.md5sBySignature.clear();
      plan.md5sBySignature.set(signature, md5s);
    }
  }
  return {
    applications: sortedApplications,
    modules,
    md5s,
    signature,
    skipped: plan.overCap + plan.modules.length - modules.length,
    error,
  };
}

/**
 * Builds the plan for a node whose plan is not cached: decodes its loaded modules, reads the
 * module lists of applications not seen yet, keeps the loaded modules of the running
 * applications (sorted, capped) and encodes their md5 calls.
 */
async function makePlan(
  rpc: RpcFunction,
  applications: ReadonlyArray<{ app: Atom; version: string }>,
  loaded: Uint8Array,
  cache: ModuleListCache,
  options: { timeoutMs: number; chunkSize: number; maxModules: number },
): Promise<{ plan: ScanPlan; complete: boolean }> {
  const loadedNames = new Set(loadedModuleNames(loaded));
  const unknown = applications.filter((entry) => !cache.get(entry.app.name, entry.version));
  const read =
    unknown.length === 0
      ? []
      : await callProbe(
          rpc,
          applicationModulesProbe(unknown.map((entry) => entry.app)),
          options.timeoutMs,
        );
  const fresh = new Map<Atom, readonly string[]>();
  let complete = true;
  unknown.forEach((entry, index) => {
    const names = (read[index] ?? []).map((module) => module.name);
    fresh.set(entry.app, names);
    if (read[index]) cache.set(entry.app.name, entry.version, names);
    else complete = false;
  });
  const wanted = new Set<string>();
  for (const entry of applications) {
    for (const name of fresh.get(entry.app) ?? cache.get(entry.app.name, entry.version) ?? []) {
      if (loadedNames.has(name)) wanted.add(name);
    }
  }
  // Sorted by name (the native string sort, several times faster than a comparator).
  const sorted = [...wanted].sort();
  const modules = sorted.slice(0, options.maxModules);
  const chunks: ScanPlan['chunks'] = [];
  for (let start = 0; start < modules.length; start += options.chunkSize) {
    // The atoms sent are the node's own: each name came from its erlang:loaded() reply.
    const atoms = modules.slice(start, start + options.chunkSize).map((name) => atom(name));
    chunks.push({ start, call: md5Chunk(atoms) });
  }
  return {
    plan: {
      modules,
      overCap: sorted.length - modules.length,
      chunks,
      namesHash: createHash('sha1').update(modules.join('\n')),
      md5sBySignature: new Map(),
    },
    complete,
  };
}
