/**
 * Code skew: which modules (by md5) and which applications (by version) differ between the
 * cluster's nodes — what a rolling deploy leaves behind while it runs, and what `badfun` and
 * protocol errors come from when it stops half way. Pure: the collector hands in each node's last
 * code scan, grouped by identical code, and gets back a bounded summary for the state.
 */
import { compareNames } from './names';

/** An application running on a node, with its version. */
export interface ApplicationVersion {
  name: string;
  version: string;
}

/** When a node's code was last scanned and what the scan read. */
export interface CodeScanSummary {
  /** When the scan finished (ms since the epoch). */
  at: number;
  /** Modules whose md5 was read (loaded modules of the running applications). */
  modules: number;
  /** Modules that could not be read (a chunk's call failed, or over the cap). */
  skipped: number;
  /** Why the last scan failed, or why some modules were skipped; null when all went well. */
  error: string | null;
}

/** One version of a module or an application, and the nodes that run it. */
export interface SkewVersion {
  /** The module's md5 (hex) or the application's version. */
  id: string;
  /** How many nodes run it. */
  count: number;
  /** The first of those nodes, sorted (at most {@link MAX_SKEW_NODES}). */
  nodes: string[];
}

/** A module whose md5 differs between nodes: its versions, the most widespread first. */
export interface ModuleSkew {
  module: string;
  /** Nodes that have it loaded. */
  nodes: number;
  versions: SkewVersion[];
}

/** An application whose version differs between nodes. */
export interface ApplicationSkew {
  application: string;
  nodes: number;
  versions: SkewVersion[];
}

/** What differs between the scanned nodes' code; absent (null in the state) when nothing does. */
export interface CodeSkew {
  /** Nodes whose code was compared. */
  scannedNodes: number;
  /** Modules that differ, the most nodes off the main version first; at most {@link MAX_SKEWED_MODULES}. */
  modules: ModuleSkew[];
  /** How many modules differ in all. */
  moduleCount: number;
  /** Applications whose version differs, as `modules`. */
  applications: ApplicationSkew[];
  applicationCount: number;
}

/**
 * A code skew as a timeline event carries it: how many modules and applications differ and the
 * first few names (the most nodes off the main version first), so that its size stays bounded
 * whatever the number of modules.
 */
export interface CodeSkewSample {
  scannedNodes: number;
  modules: { count: number; sample: string[] };
  applications: { count: number; sample: string[] };
}

/** The state carries at most this many skewed modules (and applications). */
export const MAX_SKEWED_MODULES = 50;
/** Each version names at most this many nodes (its count says how many there are). */
export const MAX_SKEW_NODES = 20;

/** A distinct code set: the sorted modules and their md5s, index for index. */
export interface CodeSet {
  modules: readonly string[];
  md5s: readonly string[];
}

/** One scanned node: which code set it runs and its applications. */
export interface NodeCode {
  node: string;
  /** Key into the code sets. */
  signature: string;
  applications: readonly ApplicationVersion[];
}

/** Each version's nodes, as the groups they were added in (a code set's group is shared). */
type Versions = Map<string, Array<readonly string[]>>;

function addNodes(versions: Versions, id: string, nodes: readonly string[]): void {
  // Kept by reference: copying a code set's nodes for each of its 5,000 modules cost 170 ms
  // at 1,000 nodes; only a module that differs is flattened (in `rank`).
  const held = versions.get(id);
  if (held) held.push(nodes);
  else versions.set(id, [nodes]);
}

/** The versions of one module or application, the most widespread first (ties by id). */
function rank(versions: Versions): { nodes: number; versions: SkewVersion[] } {
  const ranked = [...versions.entries()]
    .map(([id, groups]) => {
      const all = groups.flat();
      return { id, count: all.length, all };
    })
    .sort((a, b) => b.count - a.count || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    nodes: ranked.reduce((sum, version) => sum + version.count, 0),
    versions: ranked.map(({ id, count, all }) => ({
      id,
      count,
      nodes: all.sort(compareNames).slice(0, MAX_SKEW_NODES),
    })),
  };
}

/** Nodes that run another version than the most widespread one. */
export function offMainVersion(skew: { nodes: number; versions: readonly SkewVersion[] }): number {
  return skew.nodes - (skew.versions[0]?.count ?? 0);
}

/** Most nodes off the main version first, then by name. */
function bySpread<T extends { nodes: number; versions: SkewVersion[] }>(
  name: (entry: T) => string,
): (a: T, b: T) => number {
  return (a, b) => offMainVersion(b) - offMainVersion(a) || compareNames(name(a), name(b));
}

/**
 * The code skew among `nodes`: the modules whose md5 differs (only between nodes that have the
 * module loaded: a module one node has not loaded yet is not a difference) and the applications
 * whose version differs. Nodes are grouped by code set first, so a cluster running one or two
 * builds costs one or two walks of the module list, whatever its size. Null when nothing differs.
 */
export function codeSkewOf(
  nodes: readonly NodeCode[],
  sets: ReadonlyMap<string, CodeSet>,
): CodeSkew | null {
  const bySignature = new Map<string, string[]>();
  for (const entry of nodes) {
    if (!sets.has(entry.signature)) continue;
    const group = bySignature.get(entry.signature);
    if (group) group.push(entry.node);
    else bySignature.set(entry.signature, [entry.node]);
  }
  const modules: ModuleSkew[] = [];
  if (bySignature.size > 1) {
    const byModule = new Map<string, Versions>();
    for (const [signature, group] of bySignature) {
      const set = sets.get(signature)!;
      set.modules.forEach((module, index) => {
        let versions = byModule.get(module);
        if (!versions) byModule.set(module, (versions = new Map()));
        addNodes(versions, set.md5s[index]!, group);
      });
    }
    for (const [module, versions] of byModule) {
      if (versions.size > 1) modules.push({ module, ...rank(versions) });
    }
  }
  const byApplication = new Map<string, Versions>();
  for (const entry of nodes) {
    for (const application of entry.applications) {
      let versions = byApplication.get(application.name);
      if (!versions) byApplication.set(application.name, (versions = new Map()));
      addNodes(versions, application.version, [entry.node]);
    }
  }
  const applications: ApplicationSkew[] = [];
  for (const [application, versions] of byApplication) {
    if (versions.size > 1) applications.push({ application, ...rank(versions) });
  }
  if (modules.length === 0 && applications.length === 0) return null;
  modules.sort(bySpread((entry) => entry.module));
  applications.sort(bySpread((entry) => entry.application));
  return {
    scannedNodes: nodes.filter((entry) => sets.has(entry.signature)).length,
    modules: modules.slice(0, MAX_SKEWED_MODULES),
    moduleCount: modules.length,
    applications: applications.slice(0, MAX_SKEWED_MODULES),
    applicationCount: applications.length,
  };
}

const COUNT_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

/** "two versions", "12 versions". */
function versionsWord(count: number): string {
  return `${COUNT_WORDS[count] ?? count.toLocaleString('en-US')} version${count === 1 ? '' : 's'}`;
}

/** One line for a skewed module: `myapp_device differs on 3 of 7 nodes (two versions)`. */
export function moduleSkewLine(skew: ModuleSkew): string {
  return `${skew.module} differs on ${offMainVersion(skew)} of ${skew.nodes} nodes (${versionsWord(skew.versions.length)})`;
}

/** One line for a skewed application: `myapp runs 0.1.0 on 4 nodes, 0.2.0 on 3`. */
export function applicationSkewLine(skew: ApplicationSkew): string {
  const [first, ...rest] = skew.versions;
  if (!first) return skew.application;
  return `${skew.application} runs ${first.id} on ${first.count} node${first.count === 1 ? '' : 's'}${rest.map((version) => `, ${version.id} on ${version.count}`).join('')}`;
}

/** The headline of a skew: its first module (or application) and how many more differ. */
export function codeSkewHeadline(skew: CodeSkew): string {
  const first = skew.modules[0];
  const more = (count: number, what: string) =>
    count > 1 ? ` and ${count - 1} more ${what}${count - 1 === 1 ? '' : 's'}` : '';
  if (first) return `${moduleSkewLine(first)}${more(skew.moduleCount, 'module')}`;
  const app = skew.applications[0]!;
  return `${applicationSkewLine(app)}${more(skew.applicationCount, 'application')}`;
}
