import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DashboardPage } from './pages/dashboard-page';
import type { RunningDashboard, RunningSandbox } from './support/app';
import { startStack, type E2eStack } from './support/stack';

/** One entry of the hot links list, as the page shows it. */
interface ShownHotLink {
  a: string;
  b: string;
  busy: boolean;
  rate: number;
  text: string;
}

describe('links in Chromium: traffic on the graph, a busy link flagged, the hot links named', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let stack: E2eStack | undefined;
  let page: Page;
  let view: DashboardPage;

  const hotLinks = (): Promise<ShownHotLink[]> =>
    page.getByTestId('hot-link').evaluateAll((items) =>
      items.map((item) => ({
        a: item.getAttribute('data-a') ?? '',
        b: item.getAttribute('data-b') ?? '',
        busy: item.getAttribute('data-busy') === 'true',
        rate: Number(item.getAttribute('data-rate')),
        text: item.textContent ?? '',
      })),
    );
  const canvasFigure = async (name: string) =>
    Number(await view.graphCanvas().getAttribute(`data-${name}`));

  beforeAll(async () => {
    stack = await startStack({ viewport: { width: 1440, height: 1400 } });
    ({ sandbox, dashboard, page, view } = stack);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('shows the hot links list and the legend, no link busy at rest', async () => {
    await view.open(dashboard.url);
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 30_000 }).toBe(3);
    // At rest a link carries ticks (one each way per 15 s) and little else: whatever the list
    // names then, none of it is busy.
    await page.getByTestId('hot-links').waitFor();
    expect((await hotLinks()).some((link) => link.busy)).toBe(false);
    expect(await canvasFigure('busy-links')).toBe(0);
    await expect(page.getByTestId('legend-busy').textContent()).resolves.toContain('busy link');
    await expect(page.getByTestId('legend-traffic').textContent()).resolves.toContain('traffic');
  });

  it('flags a flooded link busy on the graph and at the top of the hot links', async () => {
    const pods = await sandbox.pods();
    const [from, to] = [pods[0]!, pods[1]!];
    await sandbox.control('POST', `/pods/${from.name}/flood`, { to: to.name, seconds: 60 });
    try {
      const nodes = [`myapp@${from.ip}`, `myapp@${to.ip}`].sort();
      await expect
        .poll(
          async () => {
            const [top] = await hotLinks();
            return (
              top !== undefined &&
              [top.a, top.b].sort().join() === nodes.join() &&
              top.busy &&
              top.rate > 500
            );
          },
          { timeout: 45_000 },
        )
        .toBe(true);
      const [top] = await hotLinks();
      expect(top!.rate).toBeGreaterThan(500);
      expect(top!.text).toMatch(/busy at myapp@/);
      await expect.poll(() => canvasFigure('busy-links'), { timeout: 10_000 }).toBe(1);
      expect(await canvasFigure('traffic-links')).toBeGreaterThan(0);
      await view.screenshot('links-busy', page.getByTestId('topology'));
      await view.screenshot('hot-links-busy', page.getByTestId('hot-links'));
      // The sending node's drawer lists the link with its queue, busy.
      await page
        .getByTestId('hot-link')
        .first()
        .getByRole('button', { name: `myapp@${from.ip}` })
        .click();
      const row = page.locator(`[data-testid="node-links"] tr[data-peer="myapp@${to.ip}"]`);
      await expect.poll(() => row.getAttribute('data-busy'), { timeout: 15_000 }).toBe('true');
      await view.screenshot('node-drawer-links', page.getByTestId('node-drawer'));
      await page.getByRole('button', { name: 'Close details' }).click();
    } finally {
      await sandbox.control('POST', `/pods/${from.name}/flood`, { seconds: 0 });
    }
    await expect.poll(() => canvasFigure('busy-links'), { timeout: 30_000 }).toBe(0);
  });

  it('flags a node with another net_ticktime in a banner and in its drawer', async () => {
    const pods = await sandbox.pods();
    const odd = pods[pods.length - 1]!;
    await sandbox.control('POST', `/pods/${odd.name}/ticktime`, { seconds: 90 });
    const banner = page.getByTestId('tick-skew');
    await banner.waitFor({ timeout: 20_000 });
    expect(await banner.textContent()).toContain('90 s on 1 node(s)');
    // The member's row opens its drawer, as a keyboard user does.
    await view.memberRow(odd.ip).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => view.drawer().getAttribute('data-key')).toBe(`myapp@${odd.ip}`);
    const ticktime = page.getByTestId('net-ticktime');
    await expect.poll(() => ticktime.getAttribute('data-mismatch')).toBe('true');
    expect(await ticktime.textContent()).toContain('the other nodes run 60 s');
    await view.screenshot('node-drawer-ticktime', page.getByTestId('node-drawer'));
  });
});
