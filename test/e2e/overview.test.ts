import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DashboardPage } from './pages/dashboard-page';
import { startStack, type E2eStack } from './support/stack';
import { startDashboard, type RunningDashboard, type RunningSandbox } from './support/app';

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

describe('the cluster pages in Chromium, against the production build and the sandbox', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let stack: E2eStack | undefined;
  let page: Page;
  let view: DashboardPage;

  beforeAll(async () => {
    stack = await startStack({ viewport: { width: 1280, height: 800 } });
    ({ sandbox, dashboard, page, view } = stack);
  });

  afterAll(async () => {
    // A test restarts the server: stop the one running now, then the rest of the stack.
    await dashboard?.stop();
    await stack?.stop();
  });

  it('opens the only cluster from / and lists every pod with its derived node name', async () => {
    await view.open(dashboard.url);
    expect(new URL(page.url()).pathname).toBe('/clusters/sandbox');
    await expect.poll(() => view.memberRows().count(), { timeout: 15_000 }).toBe(3);
    const names = await view
      .memberRows()
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-node')));
    expect(names.sort()).toEqual(['myapp@10.244.0.2', 'myapp@10.244.0.3', 'myapp@10.244.0.4']);
    await expect.poll(() => view.summary('pods').textContent()).toContain('3/3');
    await expect
      .poll(() => page.getByTestId('kubernetes-status').getAttribute('data-state'))
      .toBe('ok');
    await view.screenshot('overview');
  });

  it('follows a pod that turns unready and a scale-up, without a reload', async () => {
    const pods = await sandbox.pods();
    const first = pods.find((pod) => pod.ip === '10.244.0.2')!;
    await sandbox.control('POST', `/pods/${first.name}/ready`, { ready: false });
    await expect
      .poll(() => view.memberRow('10.244.0.2').getAttribute('data-ready'), { timeout: 10_000 })
      .toBe('false');
    await expect.poll(() => view.summary('pods').textContent()).toContain('2/3');

    await sandbox.control('POST', '/scale', { replicas: 4 });
    await expect.poll(() => view.memberRows().count(), { timeout: 15_000 }).toBe(4);
  });

  it('names a lost link with its reason, and resumes once the server is back', async () => {
    await expect.poll(() => view.linkState().getAttribute('data-state')).toBe('live');
    const port = Number(new URL(dashboard.url).port);
    await dashboard.stop();
    await expect
      .poll(() => view.linkState().getAttribute('data-state'), { timeout: 15_000 })
      .toMatch(/reconnecting|stale/);
    await expect.poll(() => view.linkState().textContent()).toContain('unreachable');
    await view.screenshot('link-lost');
    // What was on screen stays there while the link is down.
    expect(await view.memberRows().count()).toBe(4);

    dashboard = await startDashboard(sandbox.config, port);
    await expect
      .poll(() => view.linkState().getAttribute('data-state'), { timeout: 40_000 })
      .toBe('live');
    await sandbox.control('POST', '/scale', { replicas: 3 });
    await expect.poll(() => view.memberRows().count(), { timeout: 20_000 }).toBe(3);
  });

  it('names an unknown cluster on its page and in the API, with the fix', async () => {
    const response = await fetch(`${dashboard.url}/api/clusters/no-such-cluster`);
    expect(response.status).toBe(404);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('cluster_not_found');
    expect(body.error.message).toContain('no-such-cluster');

    await page.goto(`${dashboard.url}/clusters/no-such-cluster`);
    const banner = page.getByTestId('load-error');
    await banner.waitFor({ timeout: 10_000 });
    expect(await banner.textContent()).toContain('no-such-cluster');
    expect(await banner.textContent()).toContain('Fix:');
    await view.screenshot('unknown-cluster');
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
