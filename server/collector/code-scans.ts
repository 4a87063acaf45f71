import 'server-only';

// When each node's code is scanned, the scans themselves (a few at a time), what they found kept
// once per distinct code set, and the skew between the nodes. A scan reads every loaded module's
// md5, so it runs on a slow cadence of its own, never with each probe: once when a node connects,
// again when its code memory moves (the probe's `erlang:memory()` carries it, so asking costs
// nothing) but no sooner than `minIntervalMs`, and at least every `maxAgeMs` to catch a change
// that left the code's size as it was. While the connections and first probes of many nodes are
// under way (a start, a scale-up) the scans wait: they read a node's whole module list, and at
// 1,000 nodes they took the CPU the first full state needed.

import {
  codeSkewOf,
  type ApplicationVersion,
  type CodeScanSummary,
  type CodeSet,
  type CodeSkew,
} from '@/lib/code-skew';

import type { CodeScanResult } from '../erlang/probes/code';

/** The code scans' knobs; see `CollectorOptions.codeScan`. */
export interface CodeScanSettings {
  /** A changed code size triggers a scan no sooner than this after the last; default 30 s. */
  minIntervalMs: number;
  /** Every node is scanned again at least this often; default 10 min. */
  maxAgeMs: number;
  /** Nodes scanned at once; default 8. */
  concurrency: number;
  /** Modules per md5 call; default 1000. */
  chunkSize: number;
}

export const DEFAULT_CODE_SCAN: CodeScanSettings = {
  minIntervalMs: 30_000,
  maxAgeMs: 600_000,
  concurrency: 8,
  chunkSize: 1000,
};

interface NodeScan {
  /** The code memory seen when the last scan was asked for; a different value means change. */
  codeBytes: number | null;
  /** When the last scan was asked for (ms), null before the first. */
  askedAt: number | null;
  /** The last successful scan's code set, null before one. */
  signature: string | null;
  applications: ApplicationVersion[];
  /** A scan running or waiting its turn. */
  queued: boolean;
  /** The last scan failed: it is tried again after `minIntervalMs`, not `maxAgeMs`. */
  failed: boolean;
}

/** What the collector does with a scan's outcome: update the node's side. */
export type ScanOutcome = (
  node: string,
  summary: CodeScanSummary,
  applications: ApplicationVersion[] | null,
) => void;

export class CodeScans {
  private readonly nodes = new Map<string, NodeScan>();
  /** Each distinct code set once, with how many nodes run it. */
  private readonly sets = new Map<string, { set: CodeSet; users: number }>();
  private readonly queue: string[] = [];
  private running = 0;
  private stopped = false;
  /** Bumped by every change that can change the skew. */
  private version = 0;
  private cached: { version: number; key: string; skew: CodeSkew | null } | undefined;

  /**
   * `held`: while true, no scan starts (they stay queued); call {@link resume} once it turns
   * false.
   */
  constructor(
    private readonly settings: CodeScanSettings,
    private readonly scan: (node: string) => Promise<CodeScanResult>,
    private readonly outcome: ScanOutcome,
    private readonly now: () => number,
    private readonly held: () => boolean = () => false,
  ) {}

  /** Starts the scans that waited while `held` was true. */
  resume(): void {
    this.pump();
  }

  /**
   * After a probe of `node` that saw `codeBytes` of code memory: queues a scan when none was done
   * yet, when the code's size moved (and the last scan is `minIntervalMs` old), or when the last
   * one is `maxAgeMs` old.
   */
  observe(node: string, codeBytes: number | null): void {
    const at = this.now();
    let entry = this.nodes.get(node);
    if (!entry) {
      entry = {
        codeBytes,
        askedAt: null,
        signature: null,
        applications: [],
        queued: false,
        failed: false,
      };
      this.nodes.set(node, entry);
    }
    if (entry.queued) return;
    const age = entry.askedAt === null ? Infinity : at - entry.askedAt;
    const moved = codeBytes !== null && codeBytes !== entry.codeBytes;
    const soon = moved || entry.failed;
    if (age >= this.settings.maxAgeMs || (soon && age >= this.settings.minIntervalMs)) {
      entry.codeBytes = codeBytes;
      entry.askedAt = at;
      entry.queued = true;
      this.queue.push(node);
      this.pump();
    }
  }

  /** The node (re)connected: it may be another incarnation, so its next probe scans it. */
  reconnected(node: string): void {
    const entry = this.nodes.get(node);
    if (entry && !entry.queued) entry.askedAt = null;
  }

  /** The node left the cluster: its scan no longer counts. */
  forget(node: string): void {
    const entry = this.nodes.get(node);
    if (!entry) return;
    this.release(entry.signature);
    this.nodes.delete(node);
    this.version += 1;
  }

  /** Scans queued or running. */
  pending(): number {
    return this.queue.length + this.running;
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
  }

  /** The skew among `nodes` (the cluster's tracked nodes), recomputed only when a scan changed. */
  skew(nodes: readonly string[]): CodeSkew | null {
    const key = nodes.join('\n');
    if (this.cached?.version === this.version && this.cached.key === key) return this.cached.skew;
    const scanned = nodes.flatMap((node) => {
      const entry = this.nodes.get(node);
      return entry?.signature
        ? [{ node, signature: entry.signature, applications: entry.applications }]
        : [];
    });
    const sets = new Map([...this.sets].map(([signature, held]) => [signature, held.set]));
    const skew = codeSkewOf(scanned, sets);
    this.cached = { version: this.version, key, skew };
    return skew;
  }

  private pump(): void {
    if (this.held()) return;
    while (!this.stopped && this.running < this.settings.concurrency && this.queue.length > 0) {
      const node = this.queue.shift()!;
      // Gone while it waited: nothing to scan.
      if (!this.nodes.has(node)) continue;
      this.running += 1;
      void this.scanOne(node).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  private async scanOne(node: string): Promise<void> {
    let result: CodeScanResult;
    try {
      result = await this.scan(node);
    } catch (error) {
      const entry = this.nodes.get(node);
      if (!entry || this.stopped) return;
      entry.queued = false;
      entry.failed = true;
      const message = error instanceof Error ? error.message : String(error);
      this.outcome(
        node,
        { at: this.now(), modules: 0, skipped: 0, error: `code scan failed: ${message}` },
        null,
      );
      return;
    }
    const entry = this.nodes.get(node);
    // Forgotten meanwhile (the pod went away): its code no longer counts.
    if (!entry || this.stopped) return;
    entry.queued = false;
    entry.failed = false;
    if (entry.signature !== result.signature) {
      this.release(entry.signature);
      const held = this.sets.get(result.signature);
      if (held) held.users += 1;
      else
        this.sets.set(result.signature, {
          set: { modules: result.modules, md5s: result.md5s },
          users: 1,
        });
      entry.signature = result.signature;
      this.version += 1;
    }
    if (!sameApplications(entry.applications, result.applications)) {
      entry.applications = result.applications;
      this.version += 1;
    }
    this.outcome(
      node,
      {
        at: this.now(),
        modules: result.modules.length,
        skipped: result.skipped,
        error: result.error ? `some modules could not be read: ${result.error.message}` : null,
      },
      result.applications,
    );
  }

  private release(signature: string | null): void {
    if (signature === null) return;
    const held = this.sets.get(signature);
    if (held && --held.users === 0) this.sets.delete(signature);
  }
}

function sameApplications(a: readonly ApplicationVersion[], b: readonly ApplicationVersion[]) {
  return (
    a.length === b.length &&
    a.every((app, index) => app.name === b[index]!.name && app.version === b[index]!.version)
  );
}
