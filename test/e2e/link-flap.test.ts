import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DashboardPage } from './pages/dashboard-page';
import { startStack, type E2eStack } from './support/stack';
import type { RunningDashboard, RunningSandbox } from './support/app';

/**
 * A failing readiness probe, in Chromium: the pod's peers drop it and it connects back about a
 * second later. The timeline tells that disconnect — as the links made again between probes
 * (`link_flap`, with the two probes' times), as `link_down` when a probe fell inside that
 * second, or as one `partition_detected` when the probes saw the mesh split meanwhile (the
 * sandbox's libcluster can drop every peer at once, then mesh again at its next poll) — with
 * the cause "readiness probe failing".
 */
describe('links made again between probes, on the page', () => {
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

  it('a pod that goes unready: its disconnect is told with its cause', async () => {
    await view.open(dashboard.url);
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 30_000 }).toBe(3);
    const [, victim] = await sandbox.pods();
    const node = `myapp@${victim!.ip}`;
    await sandbox.control('POST', `/pods/${victim!.name}/ready`, { ready: false });

    const told = page
      .locator(
        ['link_flap', 'link_down', 'partition_detected']
          .map((kind) => `[data-testid="timeline-event"][data-kind="${kind}"]`)
          .join(', '),
      )
      .filter({ hasText: node })
      .first();
    await expect
      .poll(() => told.getByTestId('down-cause').getAttribute('data-cause'), { timeout: 30_000 })
      .toBe('readiness_failed');
    expect(await told.getByTestId('down-cause').textContent()).toContain('readiness probe');
    if ((await told.getAttribute('data-kind')) === 'link_flap') {
      // When the links dropped: between the two probes, shown beside the line.
      expect(await told.getByTestId('timeline-between').textContent()).toMatch(
        /^between \d\d:\d\d:\d\d and \d\d:\d\d:\d\d$/,
      );
    }
    await view.screenshot('timeline-link-flap', page.getByRole('region', { name: 'Timeline' }));
    await sandbox.control('POST', `/pods/${victim!.name}/ready`, { ready: true });
  }, 180_000);
});
