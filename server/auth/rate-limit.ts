import 'server-only';

/** What the limiter says about one client. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Counts failed sign-ins per client address in a fixed window: after `maxFailures` in `windowMs`
 * the address is refused until the window ends, right or wrong token. The table is bounded:
 * when full, the oldest window is forgotten first, so a flood of spoofed-looking addresses
 * costs memory only up to `maxClients`.
 */
export class FailureLimiter {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly maxFailures = 5,
    private readonly windowMs = 60_000,
    private readonly maxClients = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  private window(client: string) {
    const entry = this.windows.get(client);
    if (entry && this.now() - entry.start >= this.windowMs) {
      this.windows.delete(client);
      return undefined;
    }
    return entry;
  }

  /** Whether `client` may try now (ask before checking the submitted secret). */
  check(client: string): RateDecision {
    const entry = this.window(client);
    if (!entry || entry.failures < this.maxFailures) return { allowed: true };
    const remaining = entry.start + this.windowMs - this.now();
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(remaining / 1000)) };
  }

  /** Records a failed attempt; returns how many failures `client` has in its window. */
  fail(client: string): number {
    let entry = this.window(client);
    if (!entry) {
      if (this.windows.size >= this.maxClients) {
        const oldest = this.windows.keys().next().value;
        if (oldest !== undefined) this.windows.delete(oldest);
      }
      entry = { start: this.now(), failures: 0 };
      this.windows.set(client, entry);
    }
    entry.failures += 1;
    return entry.failures;
  }

  /** A successful sign-in clears the client's failures. */
  succeed(client: string): void {
    this.windows.delete(client);
  }
}
