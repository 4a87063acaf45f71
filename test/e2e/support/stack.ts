import type { Browser, Page } from 'playwright-core';

import { DashboardPage } from '../pages/dashboard-page';
import { launchChromium } from './browser';
import { startDashboard, startSandbox, type RunningDashboard, type RunningSandbox } from './app';

/** Everything an end-to-end test drives: the sandbox, the production server and a Chromium page. */
export interface E2eStack {
  sandbox: RunningSandbox;
  dashboard: RunningDashboard;
  browser: Browser;
  page: Page;
  view: DashboardPage;
  /** Stops whatever started, browser first. */
  stop(): Promise<void>;
}

/**
 * Starts a sandbox of `pods` pods, the dashboard on its configuration and one Chromium page. A
 * failure part-way stops what already runs before it rethrows, so no process outlives the test.
 */
export async function startStack(
  options: { pods?: number; viewport?: { width: number; height: number } } = {},
): Promise<E2eStack> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step();
  };
  try {
    const sandbox = await startSandbox(options.pods ?? 3);
    stops.push(() => sandbox.stop());
    const dashboard = await startDashboard(sandbox.config);
    stops.push(() => dashboard.stop());
    const { browser, close } = await launchChromium();
    stops.push(close);
    const page = await browser.newPage({
      viewport: options.viewport ?? { width: 1440, height: 1000 },
    });
    return { sandbox, dashboard, browser, page, view: new DashboardPage(page), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
