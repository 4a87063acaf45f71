/**
 * The registries as an operator follows them in Chromium: a scale-up from 5 to 7 pods, where the
 * two new nodes rise from nothing to their share and one timeline event tells the rebalance; and
 * a netsplit, after whose heal the copies point some names at two processes — shown in the
 * Registries panel — until they agree again.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DashboardPage, PanelRegistry } from './pages/dashboard-page';
import type { RunningDashboard, RunningSandbox } from './support/app';
import { startStack, type E2eStack } from './support/stack';

/** The devices the sandbox registers (`startSandbox` passes `--devices 1000`). */
const DEVICES = 1000;

describe('registries in Chromium: a rebalance followed live, a netsplit leaves duplicates that clear', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let stack: E2eStack | undefined;
  let page: Page;
  let view: DashboardPage;

  const pods = () => sandbox.pods();
  const swarm = async (): Promise<PanelRegistry | undefined> =>
    (await view.registries()).find((registry) => registry.registry === 'swarm');
  const hostedOf = (registry: PanelRegistry | undefined, node: string) =>
    registry?.bars.find((bar) => bar.node === node)?.hosted ?? null;
  const timelineText = (kind: string) =>
    view
      .timelineEvents(kind)
      .evaluateAll((events) => events.map((event) => event.textContent ?? ''));

  beforeAll(async () => {
    stack = await startStack({ pods: 5, viewport: { width: 1440, height: 1400 } });
    ({ sandbox, dashboard, page, view } = stack);
    await view.open(dashboard.url);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('5 → 7 pods: the two new nodes rise from 0 to their share, and one event tells the rebalance', async () => {
    // Settled on five nodes: each hosts a share, and the shares add up to every device.
    await expect
      .poll(
        async () => {
          const registry = await swarm();
          const main = registry?.bars.filter((bar) => bar.main) ?? [];
          return main.length === 5 && main.reduce((sum, bar) => sum + (bar.hosted ?? 0), 0);
        },
        { timeout: 30_000 },
      )
      .toBe(DEVICES);
    const before = new Set((await pods()).map((pod) => `myapp@${pod.ip}`));

    await sandbox.control('POST', '/scale', { replicas: 7 });
    const newNodes = async () =>
      (await pods()).map((pod) => `myapp@${pod.ip}`).filter((node) => !before.has(node));
    await expect.poll(async () => (await newNodes()).length, { timeout: 30_000 }).toBe(2);
    const added = await newNodes();

    // Each new node rises to about a seventh of the devices, and the shares add up again.
    await expect
      .poll(
        async () => {
          const registry = await swarm();
          const shares = added.map((node) => hostedOf(registry, node) ?? 0);
          const sum = registry?.bars.reduce((total, bar) => total + (bar.hosted ?? 0), 0);
          return sum === DEVICES && shares.every((share) => share > DEVICES / 7 / 2);
        },
        { timeout: 60_000 },
      )
      .toBe(true);
    await view.screenshot('registries-scaled-to-7');

    // One rebalance for Swarm, over both new nodes, from the scale-up.
    await expect
      .poll(
        async () =>
          (await timelineText('registry_rebalanced')).filter((text) =>
            text.includes('Swarm rebalance after scale-up'),
          ),
        { timeout: 30_000 },
      )
      .toEqual([
        expect.stringMatching(
          /Swarm rebalance after scale-up: [\d,]+ names moved to 2 new nodes in [\d.]+ s/,
        ),
      ]);
  });

  it('a partition and its heal: names pointing at two processes show, then the copies agree', async () => {
    // What the panel shows comes and goes between two reads: the page itself records the most
    // duplicates any registry card ever showed. The demo registers every device in Swarm,
    // Horde and syn alike, so each of them disagrees the same way; any one shows the mechanism.
    await page.evaluate(() => {
      const seen = window as unknown as { duplicatesShown: number };
      seen.duplicatesShown = 0;
      const read = () => {
        for (const shown of document.querySelectorAll(
          '[data-testid="registry"] [data-testid="registry-divergence"]',
        )) {
          const count = Number(shown.getAttribute('data-duplicates') ?? 0);
          seen.duplicatesShown = Math.max(seen.duplicatesShown, count);
        }
      };
      new MutationObserver(read).observe(document.body, {
        subtree: true,
        childList: true,
        attributes: true,
      });
    });
    // The scale-up may have told of copies that disagreed and agreed: only what comes now counts.
    const earlier = {
      diverged: (await timelineText('registry_diverged')).length,
      converged: (await timelineText('registry_converged')).length,
    };
    const all = await pods();
    const half = Math.floor(all.length / 2);
    await sandbox.control('POST', '/partition', {
      sides: [all.slice(0, half).map((pod) => pod.name), all.slice(half).map((pod) => pod.name)],
    });
    await expect
      .poll(() => view.summary('partitions').textContent(), { timeout: 30_000 })
      .toContain('2 partitions');
    // Each side takes over the devices it cannot see: let it finish before the heal.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await sandbox.control('POST', '/heal');

    // The panel shows the duplicates while they last: the demo app waits 10 s before it
    // reconciles a node back from the split.
    await expect
      .poll(
        () =>
          page.evaluate(() => (window as unknown as { duplicatesShown: number }).duplicatesShown),
        { timeout: 30_000 },
      )
      .toBeGreaterThan(0);
    const convergedBefore = (await timelineText('registry_converged')).length;

    // The copies disagree — while each side takes the other's devices over, and after the heal
    // until the demo app reconciles (10 s, as Swarm and Horde take a while) — then agree: the
    // timeline tells both.
    await expect
      .poll(async () => (await timelineText('registry_converged')).length, { timeout: 90_000 })
      .toBeGreaterThan(Math.max(earlier.converged, convergedBefore));
    expect((await timelineText('registry_converged')).join('\n')).toMatch(
      /copies agree again on \d+ nodes, [\d.]+ s after (the heal|they diverged) \([\d,]+ duplicates/,
    );
    expect((await timelineText('registry_diverged')).length).toBeGreaterThan(earlier.diverged);
    // The panel showed the duplicates while they lasted, and shows none once they are gone.
    expect(
      await page.evaluate(() => (window as unknown as { duplicatesShown: number }).duplicatesShown),
    ).toBeGreaterThan(0);
    const divergences = page.locator(
      '[data-testid="registry"] [data-testid="registry-divergence"]',
    );
    await expect.poll(() => divergences.count(), { timeout: 60_000 }).toBe(0);
    // And what the nodes host adds up again, once their next counts come in.
    await expect.poll(async () => (await swarm())?.invariant, { timeout: 90_000 }).toBe('holds');
    await view.screenshot('registries-healed');
  }, 300_000);
});
