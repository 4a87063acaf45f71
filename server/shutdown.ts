import 'server-only';

// A rollout stops the server with SIGTERM (Ctrl-C with SIGINT). Next's own server (the
// standalone `server.js`) handles both: it closes its HTTP server and exits at once, with
// nothing of ours run — the history recorder's last second of rows and the store's close
// would be lost. So the runtime stops first (the recorder writes what it gathered, the store
// closes), then Next's handlers run as they would have, and exit the process.

import { describeError } from './errors';
import type { Logger } from './log';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
type Signal = (typeof SIGNALS)[number];
const EXIT_CODES: Record<Signal, number> = { SIGTERM: 143, SIGINT: 130 };

export interface ShutdownOptions {
  /** What must happen before the process goes: the runtime's stop. */
  stop: () => Promise<void>;
  log?: Logger;
  /** Give up waiting for `stop` after this long (the pod's grace period is 30 s). */
  timeoutMs?: number;
  /** A seam for tests: the process whose signals are handled. */
  process?: Pick<NodeJS.Process, 'listeners' | 'removeAllListeners' | 'on' | 'exit'>;
}

/**
 * Handles SIGTERM and SIGINT: `stop`, then the handlers that were installed before (Next's,
 * which close the server and exit), or an exit with the signal's code when there were none.
 * Called once the runtime has started — after Next has installed its handlers.
 */
export function stopOnSignals(options: ShutdownOptions): void {
  const proc = options.process ?? process;
  let stopping: Promise<void> | null = null;
  for (const signal of SIGNALS) {
    const before = proc.listeners(signal) as Array<(signal: Signal) => void>;
    proc.removeAllListeners(signal);
    proc.on(signal, () => {
      // A second signal while stopping (a shell repeats Ctrl-C) changes nothing.
      if (stopping) return;
      stopping = stopWithin(options);
      void stopping.then(() => {
        if (before.length === 0) proc.exit(EXIT_CODES[signal]);
        for (const listener of before) listener(signal);
      });
    });
  }
}

async function stopWithin(options: ShutdownOptions): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const gaveUp = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([options.stop().then(() => 'stopped' as const), gaveUp]);
    options.log?.({
      level: outcome === 'stopped' ? 'info' : 'warn',
      message:
        outcome === 'stopped'
          ? 'stopping: history written and closed'
          : `stopping: the runtime did not stop within ${timeoutMs} ms; exiting anyway`,
    });
  } catch (error) {
    options.log?.({ level: 'error', message: `stopping: ${describeError(error)}` });
  } finally {
    clearTimeout(timer);
  }
}
