import { mkdir } from 'node:fs/promises';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { OverviewPage } from './pages/overview-page';
import { launchChromium } from './support/browser';
import {
  startDashboard,
  startSandbox,
  type RunningDashboard,
  type RunningSandbox,
} from './support/app';

/** Polls `read` until `accept` holds, failing with the last value after `timeoutMs`. */
async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!accept(last)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await read();
  }
  return last;
}

describe('the cluster overview in Chromium, against the production build and the sandbox', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let closeBrowser: () => Promise<void>;
  let browser: Browser;
  let page: Page;
  let overview: OverviewPage;

  beforeAll(async () => {
    sandbox = await startSandbox(3);
    dashboard = await startDashboard(sandbox.config);
    ({ browser, close: closeBrowser } = await launchChromium());
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    overview = new OverviewPage(page);
  });

  afterAll(async () => {
    await closeBrowser?.();
    await dashboard?.stop();
    await sandbox?.stop();
  });

  it('lists every pod the service selects with its derived node name', async () => {
    await overview.open(dashboard.url);
    await expect.poll(() => overview.memberRows('sandbox').count(), { timeout: 15_000 }).toBe(3);
    const names = await overview.cluster('sandbox').locator('td:nth-child(3)').allTextContents();
    expect(names.sort()).toEqual(['myapp@127.0.0.2', 'myapp@127.0.0.3', 'myapp@127.0.0.4']);
    await expect.poll(() => overview.readyCount('sandbox').textContent()).toContain('3/3');
    await expect
      .poll(() => overview.kubernetesStatus('sandbox').getAttribute('data-state'))
      .toBe('ok');
    await mkdir('test-results/screenshots', { recursive: true });
    await page.screenshot({ path: 'test-results/screenshots/overview.png', fullPage: true });
  });

  it('follows a pod that turns unready and a scale-up, without a reload', async () => {
    const pods = (await sandbox.control('GET', '/pods')) as Array<{ name: string; ip: string }>;
    const first = pods.find((pod) => pod.ip === '127.0.0.2')!;
    await sandbox.control('POST', `/pods/${first.name}/ready`, { ready: false });
    await expect
      .poll(() => overview.memberRow('sandbox', '127.0.0.2').getAttribute('data-ready'), {
        timeout: 10_000,
      })
      .toBe('false');
    await expect.poll(() => overview.readyCount('sandbox').textContent()).toContain('2/3');

    await sandbox.control('POST', '/scale', { replicas: 4 });
    await expect.poll(() => overview.memberRows('sandbox').count(), { timeout: 15_000 }).toBe(4);
  });

  it('answers an unknown cluster with a 404 and an operator-readable error', async () => {
    const response = await fetch(`${dashboard.url}/api/clusters/no-such-cluster`);
    expect(response.status).toBe(404);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('cluster_not_found');
    expect(body.error.message).toContain('no-such-cluster');
  });

  it('serves the cluster list with a summary line for each', async () => {
    const body = await eventually(
      async () =>
        (await (await fetch(`${dashboard.url}/api/clusters`)).json()) as {
          clusters: Array<{
            id: string;
            members: { total: number };
            kubernetes: { state: string };
          }>;
        },
      (list) => list.clusters[0]?.kubernetes.state === 'ok',
    );
    expect(body.clusters.map((cluster) => cluster.id)).toEqual(['sandbox']);
    expect(body.clusters[0]!.members.total).toBeGreaterThanOrEqual(3);
  });
});
