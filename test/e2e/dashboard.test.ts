import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterSnapshot } from '@/lib/api';

import type { DashboardPage, PanelRegistry } from './pages/dashboard-page';
import { startStack, type E2eStack } from './support/stack';
import type { RunningDashboard, RunningSandbox } from './support/app';

/** The devices the sandbox registers in Swarm (`startSandbox` passes `--devices 1000`). */
const DEVICES = 1000;

const digits = (text: string) => text.replace(/\D/g, '');

/** What the main partition's nodes host, summed; NaN when one cannot count. */
const hostedSum = (registry: PanelRegistry) =>
  registry.bars.filter((bar) => bar.main).reduce((sum, bar) => sum + (bar.hosted ?? Number.NaN), 0);

/**
 * The state is settled for a registry when its bars add up to its total — and, for a replicated
 * one, the copies agree and the panel says the invariant holds.
 */
const addsUp = (registry: PanelRegistry) =>
  hostedSum(registry) === registry.total &&
  (!registry.replicated || registry.invariant === 'holds');

/** Entries spread over several nodes: no node's share can be the copy's size. */
const spread = (registry: PanelRegistry) =>
  registry.replicated && registry.bars.filter((bar) => (bar.hosted ?? 0) > 0).length >= 2;

describe('the live dashboard in Chromium: the cluster moves, the page follows', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let stack: E2eStack | undefined;
  let page: Page;
  let view: DashboardPage;

  const pods = () => sandbox.pods();

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

  it('shows per registry what each node hosts, adding up to the total, never a copy as a node’s count', async () => {
    // A card per registry the nodes report, as the API's state lists them: Swarm, :global and
    // :pg in the demo app, and Horde or syn whenever the demo app runs them too.
    const apiRegistries = async () => {
      const response = await fetch(`${dashboard.url}/api/clusters/${await view.clusterId()}`);
      const body = (await response.json()) as ClusterSnapshot;
      return body.state.registries.map((summary) => summary.registry);
    };
    await expect
      .poll(
        async () => {
          const [api, shown] = await Promise.all([apiRegistries(), view.registries()]);
          return shown.map((registry) => registry.registry).join(' ') === api.join(' ');
        },
        { timeout: 20_000 },
      )
      .toBe(true);
    await expect
      .poll(
        async () =>
          (await view.registries())
            .filter((registry) => !addsUp(registry))
            .map((registry) => registry.registry),
        { timeout: 30_000 },
      )
      .toEqual([]);

    const registries = await view.registries();
    const swarm = registries.find((registry) => registry.registry === 'swarm');
    expect(swarm?.total).toBe(DEVICES);
    for (const registry of registries) {
      expect(registry.bars.map((bar) => bar.node)).toEqual([
        'myapp@10.244.0.2',
        'myapp@10.244.0.3',
        'myapp@10.244.0.4',
      ]);
      for (const bar of registry.bars) {
        // The figure drawn is what the node hosts…
        expect(digits(bar.text)).toBe(String(bar.hosted));
        // …and, where entries are spread, never the copy of the whole registry.
        if (spread(registry)) expect(bar.hosted!).toBeLessThan(bar.count);
      }
    }
    expect(swarm && spread(swarm)).toBe(true);

    // The members table: hosted per registry, the copy's size only in the hover.
    const figures = await view.memberRegistryFigures();
    const byKey = new Map(registries.map((registry) => [registry.registry, registry]));
    expect(figures.filter((figure) => figure.registry === 'swarm')).toHaveLength(3);
    for (const figure of figures) {
      const registry = byKey.get(figure.registry);
      expect(digits(figure.text)).toBe(String(figure.hosted));
      if (registry && spread(registry)) {
        expect(figure.hosted!).toBeLessThan(figure.count);
        expect(figure.title).toContain('copy of the whole registry');
      }
    }

    const panel = view.registriesPanel();
    await view.screenshot('registries-panel', panel);
    await page.emulateMedia({ colorScheme: 'dark' });
    await view.screenshot('registries-panel-dark', panel);
    await page.emulateMedia({ colorScheme: 'light' });

    // The same figures as a table, reachable with the keyboard.
    await panel.getByRole('button', { name: 'Table' }).focus();
    await page.keyboard.press('Enter');
    const table = panel.locator('[data-registry="swarm"] [data-testid="registry-table"]');
    await expect.poll(() => table.isVisible()).toBe(true);
    const rows = await table
      .locator('[data-testid="registry-row"]')
      .evaluateAll((items) => items.map((item) => Number(item.getAttribute('data-hosted'))));
    expect(rows.reduce((sum, value) => sum + value, 0)).toBe(DEVICES);
    await view.screenshot('registries-panel-table', panel);
    await panel.getByRole('button', { name: 'Bars' }).click();
  });

  it('scales to 5: five marks in the graph and five rows in the table', async () => {
    await sandbox.control('POST', '/scale', { replicas: 5 });
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 30_000 }).toBe(5);
    await expect.poll(() => view.drawnNodes()).toBe(5);
    await expect.poll(() => view.memberRows().count()).toBe(5);
    await expect.poll(() => view.summary('pods').textContent()).toContain('5/5');
    await expect.poll(() => view.timelineEvents('member_joined').count()).toBeGreaterThanOrEqual(5);
    await view.screenshot('dashboard-scaled-to-5');
    // The new nodes take their share of the devices: five bars, each hosting some, adding up.
    await expect
      .poll(
        async () => {
          const swarm = (await view.registries()).find((registry) => registry.registry === 'swarm');
          return (
            swarm !== undefined &&
            swarm.bars.length === 5 &&
            swarm.bars.every((bar) => (bar.hosted ?? 0) > 0) &&
            addsUp(swarm)
          );
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    await view.screenshot('registries-scaled-to-5', view.registriesPanel());
  });

  it('shows a killed node leaving on the timeline', async () => {
    const victim = (await pods()).find((pod) => pod.ip === '10.244.0.3')!;
    await sandbox.control('POST', `/pods/${victim.name}/kill`);
    const left = page.locator('[data-testid="timeline-event"][data-kind="node_down"]', {
      hasText: 'myapp@10.244.0.3',
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
      sides: [ips(['10.244.0.2', '10.244.0.3']), ips(['10.244.0.4', '10.244.0.5', '10.244.0.6'])],
    });
    await expect
      .poll(() => view.summary('partitions').textContent(), { timeout: 20_000 })
      .toContain('2 partitions');
    await expect.poll(() => view.graphPartitions()).toBe(2);
    await expect.poll(() => view.graphGroups()).toBe(2);
    await expect.poll(() => view.graphMembers('unclustered').count()).toBe(2);
    await expect.poll(() => view.timelineEvents('partition_detected').count()).toBeGreaterThan(0);
    // One event for the split, which opens to its sides and the links that went down between
    // them, fetched from the server only now.
    const details = await view.openTimelineEvent('partition_detected');
    await expect
      .poll(() => details.locator('[data-testid="event-side"]').count())
      .toBeGreaterThanOrEqual(2);
    // Each side lists every one of its nodes, as many as its size says.
    const sides = await details
      .locator('[data-testid="event-side"]')
      .evaluateAll((items) =>
        items.map((item) => [
          Number(item.getAttribute('data-size')),
          item.textContent?.match(/myapp@/g)?.length,
        ]),
      );
    for (const [size, named] of sides) expect(named).toBe(size);
    await expect
      .poll(() => details.locator('[data-testid="event-link"]').count())
      .toBeGreaterThan(0);
    expect(await details.locator('[data-testid="event-link"]').first().textContent()).toMatch(
      /^myapp@10\.244\.0\.\d+ — myapp@10\.244\.0\.\d+$/,
    );
    await view
      .timelineEvents('partition_detected')
      .first()
      .locator('[data-testid="timeline-expand"]')
      .click();
    await expect.poll(() => details.count()).toBe(0);
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
    // Right after the heal above the copies may still disagree (the demo app reconciles a node
    // back from a split after heal_sync_delay_ms), so ask again until they agree.
    let matches = await view.lookup('device-00042');
    let hosts: (string | null)[] = [];
    await expect
      .poll(
        async () => {
          matches = await view.lookup('device-00042');
          hosts = await matches.evaluateAll((items) =>
            items.map((item) => item.getAttribute('data-node')),
          );
          return hosts.length > 0 ? new Set(hosts).size : 0;
        },
        { timeout: 45_000, interval: 1000 },
      )
      .toBe(1);
    const host = hosts[0]!;
    expect(host).toMatch(/^myapp@10\.244\.0\.\d+$/);
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
    await expect.poll(() => drawer.getAttribute('data-key')).toBe('myapp@10.244.0.3');
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
