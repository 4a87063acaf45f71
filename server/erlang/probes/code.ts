import 'server-only';

// One code scan of a node: its running applications with their versions, and the md5 of every
// loaded module of those applications, read in bounded chunks. Four catalogue calls (and one per
// chunk), each a BIF or an ETS read on the node: no code is loaded and no atom is created there —
// the only atoms sent are the node's own, as it reported them.

import { createHash } from 'node:crypto';

import type { Atom } from '../codec/terms';
import {
  applicationModulesProbe,
  loadedModulesProbe,
  moduleMd5Probe,
  runningApplicationsProbe,
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
 * An application's modules by `name@version`, shared by the scans of one cluster: the `modules`
 * key of a loaded application comes from its `.app` file, so nodes that run the same version
 * list the same modules. Names only — what travels to a node is always taken from that node's
 * own `erlang:loaded()` reply, so no atom reaches a node that did not report it.
 */
export class ModuleListCache {
  private readonly lists = new Map<string, readonly string[]>();
  constructor(private readonly maxEntries = 4096) {}

  get(app: string, version: string): readonly string[] | undefined {
    return this.lists.get(`${app}@${version}`);
  }

  set(app: string, version: string, modules: readonly string[]): void {
    // Bounded: a cluster cycling through many versions starts afresh rather than growing.
    if (this.lists.size >= this.maxEntries) this.lists.clear();
    this.lists.set(`${app}@${version}`, modules);
  }
}

/** What a code scan learned: the node's applications and its modules' md5s. */
export interface CodeScanResult {
  /** Running applications by name, sorted, with their versions. */
  applications: Array<{ name: string; version: string }>;
  /** Loaded modules of the running applications, sorted by name. */
  modules: string[];
  /** Each module's md5 as hex, index for index with `modules`. */
  md5s: string[];
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
  const [{ applications }, loaded] = await Promise.all([
    callProbe(rpc, runningApplicationsProbe, timeoutMs),
    callProbe(rpc, loadedModulesProbe, timeoutMs),
  ]);
  const cache = options.moduleLists;
  const unknown = applications.filter((entry) => !cache?.get(entry.app.name, entry.version));
  const read =
    unknown.length === 0
      ? []
      : await callProbe(rpc, applicationModulesProbe(unknown.map((entry) => entry.app)), timeoutMs);
  const fresh = new Map<Atom, readonly string[]>();
  unknown.forEach((entry, index) => {
    const names = (read[index] ?? []).map((module) => module.name);
    fresh.set(entry.app, names);
    if (read[index]) cache?.set(entry.app.name, entry.version, names);
  });
  const wantedNames = new Set<string>();
  for (const entry of applications) {
    for (const name of fresh.get(entry.app) ?? cache?.get(entry.app.name, entry.version) ?? [])
      wantedNames.add(name);
  }
  // The atoms sent back are the node's own, from its loaded list; sorted by name (the native
  // string sort, several times faster than a comparator over 5,000 atoms).
  const loadedByName = new Map(loaded.map((module) => [module.name, module]));
  const wanted = [...wantedNames]
    .filter((name) => loadedByName.has(name))
    .sort()
    .map((name) => loadedByName.get(name)!);
  const kept = wanted.slice(0, maxModules);
  let skipped = wanted.length - kept.length;
  let error: ProbeError | null = null;
  const modules: string[] = [];
  const digests: Uint8Array[] = [];
  // One chunk after the other: a node is never asked for more than one chunk at a time.
  for (let start = 0; start < kept.length; start += chunkSize) {
    const chunk = kept.slice(start, start + chunkSize);
    try {
      const read = await callProbe(rpc, moduleMd5Probe(chunk), timeoutMs);
      for (const entry of chunk) modules.push(entry.name);
      digests.push(...read);
    } catch (failure) {
      skipped += chunk.length;
      error ??= toProbeError(failure);
    }
  }
  // One hex string for all, sliced per module (slices share its memory, and one conversion costs
  // a fraction of 5,000 small ones).
  const hex = Buffer.concat(digests).toString('hex');
  const md5s = modules.map((_, index) => hex.slice(index * 32, index * 32 + 32));
  const signature = createHash('sha1').update(modules.join('\n')).update(hex);
  return {
    applications: applications
      .map((entry) => ({ name: entry.app.name, version: entry.version }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    modules,
    md5s,
    signature: signature.digest('hex'),
    skipped,
    error,
  };
}
