import 'server-only';

// Turning a burst of changes into one recompute, with a pause that adapts to what a recompute
// costs.

/**
 * Runs `work` once for changes that arrive together (a list's members, probes finishing close
 * together). The pause after a run is five times what the run cost (at least 20 ms), so a
 * cluster of thousands of nodes is not rebuilt once per probe reply.
 */
export class Coalescer {
  private timer: NodeJS.Timeout | undefined;
  private lastRunAt = 0;
  private costMs = 0;

  constructor(private readonly work: () => void) {}

  /** Runs `work` after the pause, unless a run is already scheduled. */
  schedule(): void {
    if (this.timer) return;
    const pause = Math.max(20, this.costMs * 5);
    const delay = Math.max(0, this.lastRunAt + pause - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, delay);
  }

  /** Runs a scheduled `work` now instead of after the pause. */
  flush(): void {
    if (this.timer) this.runNow();
  }

  /** Runs `work` now, scheduled or not. */
  runNow(): void {
    this.cancel();
    this.run();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private run(): void {
    const started = Date.now();
    this.lastRunAt = started;
    try {
      this.work();
    } finally {
      this.costMs = Date.now() - started;
    }
  }
}
