import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DashboardPage } from './pages/dashboard-page';
import { startStack, type E2eStack } from './support/stack';
import type { RunningDashboard, RunningSandbox } from './support/app';

interface SandboxPod {
  name: string;
  ip: string;
}

describe('the live dashboard in Chromium: the cluster moves, the page follows', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let stack: E2eStack | undefined;
  let page: Page;
  let view: DashboardPage;

  const pods = async () => (await sandbox.control('GET', '/pods')) as SandboxPod[];

  beforeAll(async () => {
    stack = await startStack({ viewport: { width: 1440, height: 1000 } });
    ({ sandbox, dashboard, page, view } = stack);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('draws and lists 3 clustered nodes, over a live link', async () => {
    await view.open(dashboard.url);
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 20_000 }).toBe(3);
    await expect.poll(() => view.drawnNodes()).toBe(3);
    await expect.poll(() => view.memberRows().count()).toBe(3);
    await expect.poll(() => view.linkState().getAttribute('data-state')).toBe('live');
    expect(await view.summary('nodes').textContent()).toContain('3/3');
    expect(await view.summary('partitions').textContent()).toContain('1 partition');
    await view.screenshot('dashboard-3-nodes');
  });

  it('scales to 5: five marks in the graph and five rows in the table', async () => {
    await sandbox.control('POST', '/scale', { replicas: 5 });
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 30_000 }).toBe(5);
    await expect.poll(() => view.drawnNodes()).toBe(5);
    await expect.poll(() => view.memberRows().count()).toBe(5);
    await expect.poll(() => view.summary('pods').textContent()).toContain('5/5');
    await expect.poll(() => view.timelineEvents('member_joined').count()).toBeGreaterThanOrEqual(5);
    await view.screenshot('dashboard-scaled-to-5');
  });

  it('shows a killed node leaving on the timeline', async () => {
    const victim = (await pods()).find((pod) => pod.ip === '127.0.0.3')!;
    await sandbox.control('POST', `/pods/${victim.name}/kill`);
    const left = page.locator('[data-testid="timeline-event"][data-kind="node_down"]', {
      hasText: 'myapp@127.0.0.3',
    });
    await expect.poll(() => left.count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    await view.screenshot('dashboard-node-killed');
    // The sandbox restarts the node after a back-off: wait for the whole mesh again.
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 45_000 }).toBe(5);
  });

  it('draws a partition as two groups and says "2 partitions"; one again once healed', async () => {
    const all = await pods();
    const ips = (list: string[]) =>
      all.filter((pod) => list.includes(pod.ip)).map((pod) => pod.name);
    await sandbox.control('POST', '/partition', {
      sides: [ips(['127.0.0.2', '127.0.0.3']), ips(['127.0.0.4', '127.0.0.5', '127.0.0.6'])],
    });
    await expect
      .poll(() => view.summary('partitions').textContent(), { timeout: 20_000 })
      .toContain('2 partitions');
    await expect.poll(() => view.graphPartitions()).toBe(2);
    await expect.poll(() => view.graphGroups()).toBe(2);
    await expect.poll(() => view.graphMembers('unclustered').count()).toBe(2);
    await expect.poll(() => view.timelineEvents('partition_detected').count()).toBeGreaterThan(0);
    await view.screenshot('dashboard-partitioned');
    await page.emulateMedia({ colorScheme: 'dark' });
    await view.screenshot('dashboard-partitioned-dark');
    await page.emulateMedia({ colorScheme: 'light' });

    await sandbox.control('POST', '/heal');
    await expect
      .poll(() => view.summary('partitions').textContent(), { timeout: 30_000 })
      .toContain('1 partition');
    await expect.poll(() => view.graphGroups()).toBe(1);
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 20_000 }).toBe(5);
    await view.screenshot('dashboard-healed');
  });

  it('finds the node a device lives on by its name, and opens that node', async () => {
    // The sandbox registers each device Swarm-style under a binary name; every node keeps the
    // whole registry, so each node answers, and all of them point at the one hosting process.
    const matches = await view.lookup('device-00042');
    await expect.poll(() => matches.count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    const hosts = await matches.evaluateAll((items) =>
      items.map((item) => item.getAttribute('data-node')),
    );
    expect(new Set(hosts).size).toBe(1);
    const host = hosts[0]!;
    expect(host).toMatch(/^myapp@127\.0\.0\.\d+$/);
    await matches.first().getByRole('button').click();
    await expect.poll(() => view.drawer().getAttribute('data-key')).toBe(host);
    await view.screenshot('dashboard-lookup');
  });

  it('opens a node from the table with the keyboard, with peers and the doctor verdict', async () => {
    await page.getByRole('button', { name: 'Close details' }).click();
    await view.memberRows().first().focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    const drawer = view.drawer();
    await expect.poll(() => drawer.getAttribute('data-key')).toBe('myapp@127.0.0.3');
    await expect.poll(() => drawer.getByTestId('verdict').textContent()).toContain('clustered');
    await expect
      .poll(() => drawer.locator('[data-testid="peers"] li[data-seen="true"]').count())
      .toBe(4);
    await view.screenshot('dashboard-node-drawer');
  });

  it('drives the sandbox from its panel: scale down to 4', async () => {
    await page.keyboard.press('Escape');
    await expect.poll(() => view.drawer().count()).toBe(0);
    const panel = page.getByTestId('sandbox-panel');
    await panel.getByLabel('pods').fill('4');
    await panel.getByRole('button', { name: 'Scale' }).click();
    await expect
      .poll(() => page.getByTestId('sandbox-message').textContent(), { timeout: 15_000 })
      .toContain('scaled to 4');
    await expect.poll(() => view.memberRows().count(), { timeout: 20_000 }).toBe(4);
    await expect.poll(() => view.drawnNodes()).toBe(4);
    await view.screenshot('dashboard-sandbox-panel');
  });
});
