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

const byName = (a: Atom, b: Atom): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

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
  const moduleLists =
    applications.length === 0
      ? []
      : await callProbe(
          rpc,
          applicationModulesProbe(applications.map((entry) => entry.app)),
          timeoutMs,
        );
  const isLoaded = new Set(loaded.map((module) => module.name));
  const unique = new Map<string, Atom>();
  for (const list of moduleLists) {
    for (const name of list ?? []) if (isLoaded.has(name.name)) unique.set(name.name, name);
  }
  const wanted = [...unique.values()].sort(byName);
  const kept = wanted.slice(0, maxModules);
  let skipped = wanted.length - kept.length;
  let error: ProbeError | null = null;
  const modules: string[] = [];
  const md5s: string[] = [];
  // One chunk after the other: a node is never asked for more than one chunk at a time.
  for (let start = 0; start < kept.length; start += chunkSize) {
    const chunk = kept.slice(start, start + chunkSize);
    try {
      const digests = await callProbe(rpc, moduleMd5Probe(chunk), timeoutMs);
      chunk.forEach((module, index) => {
        modules.push(module.name);
        md5s.push(digests[index]!);
      });
    } catch (failure) {
      skipped += chunk.length;
      error ??= toProbeError(failure);
    }
  }
  const signature = createHash('sha1');
  modules.forEach((module, index) => signature.update(module).update('\0').update(md5s[index]!));
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
