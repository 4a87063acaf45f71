/**
 * Code skew as an operator sees it in Chromium: from the sandbox panel, one pod restarts on
 * release 0.2.0 of the demo app; the dashboard's code-skew panel names `myapp_device` as
 * differing on 1 of 3 nodes and the `myapp` application's two versions, and the node's drawer
 * shows its applications; the timeline tells of the skew. A rolling upgrade to 0.2.0 then replaces
 * every pod, the panel goes and the timeline says the skew cleared.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DashboardPage } from './pages/dashboard-page';
import type { RunningDashboard, RunningSandbox } from './support/app';
import { startStack, type E2eStack } from './support/stack';

describe('code skew in Chromium: one pod on another release, then a rolling upgrade', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let stack: E2eStack | undefined;
  let page: Page;
  let view: DashboardPage;

  beforeAll(async () => {
    stack = await startStack({ pods: 3, viewport: { width: 1440, height: 1200 } });
    ({ sandbox, dashboard, page, view } = stack);
    await view.open(dashboard.url);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('names myapp_device on the pod restarted on 0.2.0, and the drawer shows its applications', async () => {
    const pods = await sandbox.pods();
    const target = [...pods].sort((a, b) => a.name.localeCompare(b.name))[0]!;
    const node = `myapp@${target.ip}`;
    const panel = page.getByTestId('sandbox-panel');
    await panel.getByLabel('Pod to act on').selectOption(target.name);
    await panel.getByLabel('Demo app release').selectOption('0.2.0');
    await panel.getByRole('button', { name: 'Run on pod' }).click();

    const skew = page.getByTestId('code-skew');
    const device = skew.locator('[data-testid="skewed-module"][data-module="myapp_device"]');
    await device.waitFor({ timeout: 60_000 });
    expect(await device.locator('p').first().textContent()).toBe(
      'myapp_device differs on 1 of 3 nodes (two versions)',
    );
    const application = skew.locator(
      '[data-testid="skewed-application"][data-application="myapp"]',
    );
    expect(await application.locator('p').first().textContent()).toBe(
      'myapp runs 0.1.0 on 2 nodes, 0.2.0 on 1',
    );
    await view.screenshot('code-skew', skew);
    const detected = page.locator('[data-testid="timeline-event"][data-kind="code_skew_detected"]');
    await detected.first().waitFor({ timeout: 30_000 });
    expect(await detected.first().textContent()).toContain(
      'code skew: myapp_device differs on 1 of 3 nodes (two versions)',
    );
    expect(await detected.first().getAttribute('data-severity')).toBe('warning');

    // The node on the other release opens its drawer, which lists its applications.
    await device.getByRole('button', { name: node }).click();
    const drawer = view.drawer();
    await drawer.getByTestId('node-applications').waitFor();
    const myapp = drawer.getByTestId('node-applications').locator('dt', { hasText: /^myapp$/ });
    expect(await myapp.locator('xpath=following-sibling::dd[1]').textContent()).toBe('0.2.0');
    expect(await drawer.getByTestId('node-skew').textContent()).toContain('myapp_device');
    await view.screenshot('code-skew-drawer', drawer);
    await drawer.getByRole('button', { name: /close/i }).click();
  });

  it('a rolling upgrade to 0.2.0 ends with no code skew shown', async () => {
    const panel = page.getByTestId('sandbox-panel');
    await panel.getByLabel('Demo app release').selectOption('0.2.0');
    await panel.getByRole('button', { name: 'Rolling upgrade' }).click();
    await panel
      .getByTestId('sandbox-message')
      .filter({ hasText: 'rolled every pod out on myapp 0.2.0' })
      .waitFor({ timeout: 120_000 });
    await page.getByTestId('code-skew').waitFor({ state: 'detached', timeout: 60_000 });
    expect(await page.getByTestId('code-skew').count()).toBe(0);
    // The newest code event on the timeline (newest first) says the skew cleared.
    const codeEvents = page.locator('[data-testid="timeline-event"][data-kind^="code_skew_"]');
    const cleared = codeEvents.first();
    await page
      .locator('[data-testid="timeline-event"][data-kind="code_skew_cleared"]')
      .first()
      .waitFor({ timeout: 30_000 });
    expect(await cleared.getAttribute('data-kind')).toBe('code_skew_cleared');
    expect(await cleared.textContent()).toContain(
      'code skew cleared: every node runs the same code',
    );
    await view.screenshot('code-skew-timeline', page.getByRole('region', { name: 'Timeline' }));
  });
});
