/**
 * The one exponential backoff of beamscope: the browser's stream reconnects, the Kubernetes
 * watchers' restarts and the node reconnects all take their delays from here. It computes a
 * delay and nothing else: each caller owns its own timer, and the retry libraries on npm
 * (`p-retry`, `exponential-backoff`) wrap a promise-returning call in a loop, which is not the
 * shape of an informer restart or a tracked node's reconnect.
 */

/** How delays grow and how they are spread. */
export interface BackoffPolicy {
  /** The first delay (attempt 0). */
  initialMs: number;
  /** The ceiling the doubling stops at. */
  maxMs: number;
  /**
   * `equal`: half the step fixed, half random, so many clients restarting after one outage
   * spread out but never come back at once (the server side). `plus20`: the whole step plus up
   * to 20 % more, so one browser never waits less than the step (the page).
   */
  jitter: 'equal' | 'plus20';
}

/**
 * The delay before retry number `attempt` (0 for the first): `initialMs` doubled per attempt up
 * to `maxMs`, spread by `random` in [0, 1] as the policy says. Whole milliseconds.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: number): number {
  const step = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
  const spread = Math.min(1, Math.max(0, random));
  return Math.round(
    policy.jitter === 'equal' ? step / 2 + (spread * step) / 2 : step * (1 + 0.2 * spread),
  );
}
