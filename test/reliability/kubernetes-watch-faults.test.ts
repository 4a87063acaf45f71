import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  between,
  faultsMode,
  monitorLink,
  readinessChurn,
  runScenario,
  startReliabilityStack,
  summary,
  type ReliabilityStack,
} from './support';

const long = faultsMode() === 'long';
/** How long watches are cut at random: minutes in the long run. */
const CUTS_MS = long ? 180_000 : 15_000;
/** How long the watch history keeps being compacted. */
const STORM_MS = long ? 60_000 : 6_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('watch streams cut and expired while the cluster changes', () => {
  let stack: ReliabilityStack;
  beforeAll(async () => {
    stack = await startReliabilityStack({ pods: 3 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it(
    `follows every change while watches are cut at random for ${CUTS_MS / 1000} s`,
    async () => {
      const result = await runScenario(
        stack,
        {
          scenario: `Watch streams cut at random for ${CUTS_MS / 1000} s`,
          injected: `every 0.2–1.5 s a random share of the open watches ends — the chunked response closed (as at a watch timeout) or the connection reset — for ${CUTS_MS / 1000} s, while pods flip unready and back`,
        },
        async () => {
          const until = Date.now() + CUTS_MS;
          const link = monitorLink(stack);
          let cuts = 0;
          let lastCut = Date.now();
          const cutter = (async () => {
            while (Date.now() < until) {
              await sleep(between(200, 1500));
              const { cut } = await stack.kube.cutWatches({
                mode: Math.random() < 0.5 ? 'close' : 'reset',
                fraction: between(30, 100) / 100,
              });
              cuts += cut.length;
              lastCut = Date.now();
            }
          })();
          const latencies = await readinessChurn(stack, until);
          await cutter;
          const recoverStarted = lastCut;
          await stack.waitForConverged(60_000);
          const recoverMs = Date.now() - recoverStarted;
          const seen = await link.stop();
          const figures = summary(latencies);
          return {
            // No alarm is due for a routine cut: "detection" here is the slowest change to show.
            detectMs: figures.max,
            recoverMs,
            notes: `${cuts} watches cut; ${figures.n} readiness changes shown after ${figures.median} ms median, ${figures.max} ms max; link shown in error ${seen.errorEpisodes}× (${seen.errorMs} ms${seen.codes.length ? `, ${seen.codes.join(', ')}` : ''})`,
          };
        },
      );
      expect(result.error).toBeUndefined();
      expect(result.diff).toEqual([]);
      expect(result.lost).toEqual([]);
    },
    CUTS_MS + 200_000,
  );

  it(
    `re-lists through a ${STORM_MS / 1000} s storm of 410 Expired`,
    async () => {
      const result = await runScenario(
        stack,
        {
          scenario: `410 Expired storm for ${STORM_MS / 1000} s`,
          injected: `the watch history is compacted every 250 ms for ${STORM_MS / 1000} s (open watches end, every resume gets 410 Expired, re-lists' versions expire soon after), while pods flip unready and back`,
        },
        async () => {
          const started = Date.now();
          const until = started + STORM_MS;
          const link = monitorLink(stack);
          await stack.kube.expireStorm(STORM_MS, 250);
          const latencies = await readinessChurn(stack, until);
          await sleep(Math.max(0, until - Date.now()));
          const stormEnded = Date.now();
          await stack.waitForConverged(60_000);
          const recoverMs = Date.now() - stormEnded;
          const seen = await link.stop();
          const figures = summary(latencies);
          return {
            detectMs: figures.max,
            recoverMs,
            notes: `${figures.n} readiness changes shown after ${figures.median} ms median, ${figures.max} ms max; link shown in error ${seen.errorEpisodes}× (${seen.errorMs} ms${seen.codes.length ? `, ${seen.codes.join(', ')}` : ''})`,
          };
        },
      );
      expect(result.error).toBeUndefined();
      expect(result.diff).toEqual([]);
      expect(result.lost).toEqual([]);
    },
    STORM_MS + 200_000,
  );
});
