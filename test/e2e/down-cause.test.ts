import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DashboardPage } from './pages/dashboard-page';
import { startStack, type E2eStack } from './support/stack';
import type { RunningDashboard, RunningSandbox } from './support/app';

/**
 * Why a node went down, in Chromium: the sandbox panel's "OOM kill" ends a pod's container as
 * the kernel would, and the timeline's `node_down` shows "OOMKilled" (amended once the pod's
 * status lands), as does the node drawer opened from it.
 */
describe('the cause of a node going down, on the page', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let stack: E2eStack | undefined;
  let page: Page;
  let view: DashboardPage;

  beforeAll(async () => {
    stack = await startStack({ viewport: { width: 1440, height: 1000 } });
    ({ sandbox, dashboard, page, view } = stack);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('an OOM kill from the sandbox panel: the timeline and the drawer say OOMKilled', async () => {
    await view.open(dashboard.url);
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 30_000 }).toBe(3);
    const [victim] = await sandbox.pods();
    const node = `myapp@${victim!.ip}`;

    const panel = page.getByTestId('sandbox-panel');
    await panel.getByLabel('Pod to act on').selectOption(victim!.name);
    await panel.getByRole('button', { name: 'OOM kill' }).click();
    await expect
      .poll(() => page.getByTestId('sandbox-message').textContent())
      .toContain(`OOM-killed the node of ${victim!.name}`);

    // The node_down line, with its cause under it (one line: the amendment applies to it).
    const down = view
      .timelineEvents('node_down')
      .filter({ hasText: `node ${node} is down` })
      .first();
    const cause = down.getByTestId('down-cause');
    await expect
      .poll(() => cause.getAttribute('data-cause'), { timeout: 20_000 })
      .toBe('oom_killed');
    const text = (await cause.textContent()) ?? '';
    expect(text).toContain('OOMKilled');
    expect(text).toContain('exit code 137');
    expect(await view.timelineEvents('down_cause').count()).toBe(0);
    await view.screenshot('timeline-down-cause', page.getByRole('region', { name: 'Timeline' }));

    // The drawer of that node says why it last went down.
    await down.getByRole('button', { name: `node ${node} is down`, exact: false }).click();
    const drawer = view.drawer();
    await expect.poll(() => drawer.getAttribute('data-key')).toBe(node);
    const lastDown = drawer.getByTestId('last-down');
    await expect
      .poll(() => lastDown.getByTestId('down-cause').getAttribute('data-cause'))
      .toBe('oom_killed');
    expect(await lastDown.textContent()).toContain('OOMKilled');
    await view.screenshot('drawer-down-cause', drawer);

    // The pod comes back: restarted, its restart count up, its node clustered again.
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 60_000 }).toBe(3);
  }, 180_000);
});
