/**
 * What the push and failure benches drive: the sandbox (emulated Kubernetes API + real BEAM
 * pods, test/e2e/support/app.ts), the standalone production server on its configuration, a
 * kept-alive control client and, when asked, headless Chromium. Stops in reverse order, also
 * when the bench is interrupted (bench/support/lifecycle.ts).
 */
import { readFile } from 'node:fs/promises';

import type { Browser } from 'playwright-core';
import { parse } from 'yaml';

import {
  startDashboard,
  startSandbox,
  type RunningDashboard,
  type RunningSandbox,
} from '../../test/e2e/support/app';
import { launchChromium } from '../../test/e2e/support/browser';
import { controlClient, type ControlClient, type SandboxPod } from './control';
import { onInterrupt } from './lifecycle';

export interface BenchStack {
  sandbox: RunningSandbox;
  dashboard: RunningDashboard;
  control: ControlClient;
  /** The sandbox's cluster id in the dashboard's configuration. */
  clusterId: string;
  browser: Browser | null;
  stop(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `promise`'s value, or `fallback` when it takes longer than `ms`. */
export function withTimeout<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<F>((resolve) => {
      timer = setTimeout(() => resolve(fallback), ms);
    }),
  ]);
}

/** Polls `probe` every `everyMs` until it returns a truthy value; throws naming `what`. */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export async function startBenchStack(options: {
  pods: number;
  browser?: boolean;
  log?: (line: string) => void;
}): Promise<BenchStack> {
  const log = options.log ?? (() => undefined);
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    // Bounded: a hung browser must not keep the rest running (lifecycle ends leftovers at exit).
    for (const step of stops.splice(0).reverse())
      await withTimeout(
        step().catch(() => undefined),
        20_000,
        undefined,
      );
  };
  const unregister = onInterrupt(stop);
  try {
    const started = Date.now();
    const sandbox = await startSandbox(options.pods);
    stops.push(() => sandbox.stop());
    log(`sandbox: ${options.pods} BEAM pods up in ${Date.now() - started} ms`);
    const config = parse(await readFile(sandbox.config, 'utf8')) as {
      clusters: Array<{ id: string }>;
    };
    const clusterId = config.clusters[0]!.id;
    const control = await controlClient(sandbox.api, sandbox.kubeconfig, sandbox.token);
    stops.push(async () => control.close());
    const dashboard = await startDashboard(sandbox.config);
    stops.push(() => dashboard.stop());
    log(
      `dashboard: ${dashboard.url} (${process.env.BEAMSCOPE_SERVER_JS ?? '.next/standalone/server.js'})`,
    );
    let browser: Browser | null = null;
    if (options.browser) {
      const chromium = await launchChromium();
      stops.push(chromium.close);
      browser = chromium.browser;
    }
    return {
      sandbox,
      dashboard,
      control,
      clusterId,
      browser,
      async stop() {
        unregister();
        await stop();
      },
    };
  } catch (error) {
    unregister();
    await stop();
    throw error;
  }
}

/** The pods, once `count` of them are Ready and none is terminating. */
export function settledPods(
  control: ControlClient,
  count: number,
  timeoutMs = 60_000,
): Promise<SandboxPod[]> {
  return waitUntil(
    `${count} Ready pods`,
    timeoutMs,
    async () => {
      const pods = await control.pods();
      return pods.length === count && pods.every((pod) => pod.ready && !pod.terminating)
        ? pods
        : null;
    },
    200,
  );
}
