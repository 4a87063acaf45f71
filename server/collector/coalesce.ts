import 'server-only';

// Turning a burst of changes into one recompute, with a pause that adapts to what a recompute
// costs.

/**
 * Runs `work` once for changes that arrive together (a list's members, probes finishing close
 * together). The pause after a run is five times what the run cost (at least 20 ms), so a
 * cluster of thousands of nodes is not rebuilt once per probe reply. A change someone is
 * waiting on (a pod's readiness from the Kubernetes watch) is scheduled `soon`: once the last run
 * has been over for as long as it took, so it is not held behind the probes' longer pause and
 * still leaves the event loop half of its time however often such changes come.
 */
export class Coalescer {
  private timer: NodeJS.Timeout | undefined;
  /** When the scheduled run is due (`Date.now()` clock). */
  private dueAt = 0;
  private lastRunAt = 0;
  private costMs = 0;

  constructor(private readonly work: () => void) {}

  /**
   * Runs `work` after the pause, unless a run is already scheduled; `soon`: after the short
   * pause, bringing a run already scheduled for later forward. `atLeastMs` lengthens the usual
   * pause (not the short one): for changes that come in a long burst, such as a start.
   */
  schedule(soon = false, atLeastMs = 0): void {
    // From the last run's start: `soon` leaves one run's cost idle after it ended.
    const pause = soon ? this.costMs * 2 : Math.max(20, this.costMs * 5, atLeastMs);
    const dueAt = Math.max(Date.now(), this.lastRunAt + pause);
    if (this.timer) {
      if (dueAt >= this.dueAt) return;
      clearTimeout(this.timer);
    }
    this.dueAt = dueAt;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.run();
      },
      Math.max(0, dueAt - Date.now()),
    );
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
