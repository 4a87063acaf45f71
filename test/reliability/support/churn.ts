import type { ClusterState } from '@/lib/cluster-state';

import type { PodInfo } from '../../e2e/support/app';

import type { ReliabilityStack } from './stack';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A random integer in [min, max]. */
export function between(min: number, max: number): number {
  return Math.floor(min + Math.random() * (max - min + 1));
}

/** The sandbox's pods through its control surface (which works while beamscope's token fails). */
export function pods(stack: ReliabilityStack): Promise<PodInfo[]> {
  return stack.sandbox.pods();
}

/**
 * Sets a pod's readiness in the emulator and measures how long the pushed state took to show it
 * (the change's end-to-end latency through whatever fault is running).
 */
export async function setReadiness(
  stack: ReliabilityStack,
  pod: string,
  ready: boolean,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  await stack.sandbox.control('POST', `/pods/${encodeURIComponent(pod)}/ready`, { ready });
  return stack.waitForStream(
    (state) =>
      state.members.some(
        (member) => member.kubernetes?.podName === pod && member.kubernetes.ready === ready,
      ),
    timeoutMs,
    started,
  );
}

/** What {@link monitorLink} saw of the Kubernetes link while it ran. */
export interface LinkRecord {
  /** Times the link went from ok/syncing to error. */
  errorEpisodes: number;
  /** Total time shown in error, ms. */
  errorMs: number;
  /** The error codes shown. */
  codes: string[];
}

/** Watches the pushed state's Kubernetes link every 20 ms until `stop()`. */
export function monitorLink(stack: ReliabilityStack): { stop(): Promise<LinkRecord> } {
  const record: LinkRecord = { errorEpisodes: 0, errorMs: 0, codes: [] };
  let running = true;
  const loop = (async () => {
    let since: number | null = null;
    while (running) {
      const link: ClusterState['kubernetes'] | undefined = stack.stream.current?.state.kubernetes;
      const now = Date.now();
      if (link?.state === 'error') {
        if (since === null) {
          since = now;
          record.errorEpisodes += 1;
          if (!record.codes.includes(link.code)) record.codes.push(link.code);
        }
      } else if (since !== null) {
        record.errorMs += now - since;
        since = null;
      }
      await sleep(20);
    }
    if (since !== null) record.errorMs += Date.now() - since;
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return record;
    },
  };
}

/** Summary figures of latencies, ms. */
export function summary(values: readonly number[]): { n: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: sorted.length ? sorted[Math.floor(sorted.length / 2)]! : 0,
    max: sorted.length ? sorted[sorted.length - 1]! : 0,
  };
}

/**
 * Flips random pods unready and back, one change at a time with a pause between, until
 * `until`; resolves to each change's latency (ms until the stream showed it). Leaves every pod
 * it touched ready.
 */
export async function readinessChurn(
  stack: ReliabilityStack,
  until: number,
  options: { timeoutMs?: number; pauseMs?: [number, number] } = {},
): Promise<number[]> {
  const latencies: number[] = [];
  const timeoutMs = options.timeoutMs ?? 60_000;
  const [minPause, maxPause] = options.pauseMs ?? [300, 1500];
  while (Date.now() < until) {
    const live = (await pods(stack)).filter((pod) => pod.phase === 'Running' && !pod.terminating);
    const pod = live[between(0, live.length - 1)];
    if (!pod) break;
    latencies.push(await setReadiness(stack, pod.name, false, timeoutMs));
    await sleep(between(minPause, maxPause));
    latencies.push(await setReadiness(stack, pod.name, true, timeoutMs));
    await sleep(between(minPause, maxPause));
  }
  return latencies;
}
