/**
 * 1,000 members in Chromium (issue 16): simulated BEAM nodes in a child process, their pods in
 * the emulated Kubernetes API, the standalone server watching both — the stack the browser-scale
 * bench measures. The nodes split in two and heal; the adjacency view (the default at this size)
 * and the virtualised membership table follow, and the graph draws the fixed large-mesh layout.
 */
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startScaleStack, type ScaleStack } from '../../bench/browser-scale';
import { DashboardPage } from './pages/dashboard-page';
import { launchChromium } from './support/browser';

/**
 * Counts the membership rows React renders per commit, in the production build, through the hook
 * React offers developer tools: a `<tr>` whose props object was not seen before was rendered in
 * that commit; a memoised row that was skipped keeps its fiber and its props object.
 */
const rowRenderCounter = `
  (() => {
    const seen = new WeakSet();
    const commits = [];
    window.__rowRenders = commits;
    window.__REACT_DEVTOOLS_GLOBAL_HOOK__ = {
      supportsFiber: true,
      renderers: new Map(),
      inject() { return 1; },
      onScheduleFiberRoot() {},
      onCommitFiberUnmount() {},
      onPostCommitFiberRoot() {},
      checkDCE() {},
      onCommitFiberRoot(_id, root) {
        const rendered = [];
        const stack = [root.current];
        while (stack.length > 0) {
          const fiber = stack.pop();
          const props = fiber.memoizedProps;
          if (typeof fiber.type === 'string' && props && props['data-testid'] === 'member-row') {
            if (!seen.has(props)) {
              seen.add(props);
              rendered.push(props['data-id']);
            }
          }
          if (fiber.child) stack.push(fiber.child);
          if (fiber.sibling) stack.push(fiber.sibling);
        }
        commits.push(rendered);
      },
    };
  })();
`;

/**
 * 1,000 as issue 16 asks. `BEAMSCOPE_LARGE_MESH_MEMBERS` runs it smaller (an even number above
 * 300, the adjacency view's threshold). At 1,000 it passed 3 of 3 runs in 94–103 s on a 2-core
 * machine, once registry comparisons stopped holding a million pending calls (issue 16, item 2).
 */
const MEMBERS = Number(process.env.BEAMSCOPE_LARGE_MESH_MEMBERS ?? 1000);
/** One screen of rows (the table's scroller is 70 % of a 1,000 px window) and its overscan. */
const ONE_SCREEN_OF_ROWS = 60;
/**
 * How long the server may take to see a split or a heal: a probe cycle of every node, which took
 * minutes for 600 nodes on this 2-core machine under load (the collector's, not the page's).
 */
const FOLLOW_MS = 300_000;
const FOLLOW_TEST_MS = FOLLOW_MS + 60_000;

describe(`${MEMBERS} members through a partition and a heal`, () => {
  let stack: ScaleStack | undefined;
  let closeBrowser: (() => Promise<void>) | undefined;
  let page: Page;
  let view: DashboardPage;

  const adjacency = () => page.getByTestId('adjacency');
  const blockSizes = async () =>
    page
      .locator('[data-testid="adjacency-block"]')
      .evaluateAll((items) => items.map((item) => Number(item.getAttribute('data-size'))));
  const rows = () => view.memberRows();
  const shownPartitions = async (locator: Locator) =>
    locator.evaluateAll((items) => [
      ...new Set(items.map((item) => item.getAttribute('data-partition'))),
    ]);

  beforeAll(async () => {
    // Connecting 1,000 nodes takes the collector minutes on a loaded 2-core machine.
    stack = await startScaleStack({ members: MEMBERS, partitions: [MEMBERS] });
    const chromium = await launchChromium();
    closeBrowser = chromium.close;
    page = await chromium.browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.addInitScript({ content: rowRenderCounter });
    view = new DashboardPage(page);
  }, 1_200_000);

  afterAll(async () => {
    await closeBrowser?.();
    await stack?.stop();
  });

  it('opens on the adjacency view: one block of every member, and one screen of table rows', async () => {
    await view.open(stack!.url, stack!.clusterId);
    await expect
      .poll(() => page.getByTestId('mesh-view').getAttribute('data-view'))
      .toBe('adjacency');
    await expect.poll(blockSizes, { timeout: 30_000 }).toEqual([MEMBERS]);
    expect(await adjacency().getAttribute('data-partitions')).toBe('1');
    expect(await page.getByTestId('members-count').textContent()).toBe(String(MEMBERS));
    await expect.poll(() => rows().count()).toBeGreaterThan(10);
    expect(await rows().count()).toBeLessThanOrEqual(ONE_SCREEN_OF_ROWS);
    expect(await shownPartitions(rows())).toEqual(['0']);
    await view.screenshot('large-mesh-adjacency-whole', adjacency());
  });

  it(
    'shows two blocks, split from each other, when the nodes split in halves',
    async () => {
      await stack!.repartition!([MEMBERS / 2, MEMBERS / 2]);
      await expect.poll(blockSizes, { timeout: FOLLOW_MS }).toEqual([MEMBERS / 2, MEMBERS / 2]);
      expect(await adjacency().getAttribute('data-partitions')).toBe('2');
      const cells = async (): Promise<Record<string, number>> =>
        Object.fromEntries(
          await page
            .locator('[data-testid="adjacency-count"]')
            .evaluateAll((items) =>
              items.map((item) => [
                item.getAttribute('data-cell') ?? '',
                Number(item.getAttribute('data-count')),
              ]),
            ),
        );
      // No link across the halves and none missing inside one: pairs across are split, or unknown
      // for a node whose peers the collector has not read again since the split.
      await expect
        .poll(
          async () => {
            const { missing = 0, split = 0, unknown = 0, link = 0 } = await cells();
            return (
              missing === 0 &&
              split > 0 &&
              split + unknown >= 2 * (MEMBERS / 2) ** 2 &&
              link <= 2 * (MEMBERS / 2) * (MEMBERS / 2 - 1)
            );
          },
          { timeout: 60_000 },
        )
        .toBe(true);

      // The hover names the pair under the pointer: a cell of the top-right quadrant.
      const box = (await page.getByTestId('adjacency-canvas').boundingBox())!;
      const side = Math.min(box.width, box.height) - 44;
      const left = box.x + Math.max(22, (box.width - side) / 2);
      await page.mouse.move(left + side * 0.75, box.y + 22 + side * 0.25);
      await expect
        .poll(() => page.getByTestId('adjacency-hover').textContent())
        .toMatch(/myapp@10\.244\.\S+ \| myapp@10\.244\.\S+: in different partitions/);
      await view.screenshot('large-mesh-adjacency-split', adjacency());
    },
    FOLLOW_TEST_MS,
  );

  it('lists the halves in the table: sorted by partition, the last rows are the second one', async () => {
    await expect
      .poll(() => view.summary('partitions').textContent(), { timeout: 30_000 })
      .toContain('2 partitions');
    await page.getByRole('button', { name: /^Partition/ }).click();
    expect(await shownPartitions(rows())).toEqual(['0']);
    await rows().first().focus();
    await page.keyboard.press('End');
    // The virtualiser scrolls the last row into view and renders it; focus follows it.
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-partition')))
      .toBe('1');
    expect(await shownPartitions(rows())).toEqual(['1']);
    expect(await rows().count()).toBeLessThanOrEqual(ONE_SCREEN_OF_ROWS);
    await page.keyboard.press('Home');
    await expect.poll(() => shownPartitions(rows())).toEqual(['0']);
  });

  it('draws the graph in the fixed large-mesh layout, one group per half', async () => {
    await page.getByTestId('mesh-view-graph').click();
    const canvas = page.getByTestId('topology-canvas');
    await expect.poll(() => canvas.getAttribute('data-nodes')).toBe(String(MEMBERS));
    expect(await canvas.getAttribute('data-layout')).toBe('fixed');
    expect(await canvas.getAttribute('data-groups')).toBe('2');
    await view.screenshot('large-mesh-graph-split', page.getByTestId('topology'));
    await page.getByTestId('mesh-view-adjacency').click();
    await expect.poll(blockSizes).toEqual([MEMBERS / 2, MEMBERS / 2]);
  });

  it(
    'goes back to one block, and one partition in the table, when the halves heal',
    async () => {
      await stack!.repartition!([MEMBERS]);
      await expect.poll(blockSizes, { timeout: FOLLOW_MS }).toEqual([MEMBERS]);
      expect(await adjacency().getAttribute('data-partitions')).toBe('1');
      await expect.poll(() => shownPartitions(rows()), { timeout: 30_000 }).toEqual(['0']);
      await rows().first().focus();
      await page.keyboard.press('End');
      await expect.poll(() => shownPartitions(rows())).toEqual(['0']);
      expect(await rows().count()).toBeLessThanOrEqual(ONE_SCREEN_OF_ROWS);
      await view.screenshot('large-mesh-adjacency-healed', adjacency());
    },
    FOLLOW_TEST_MS,
  );

  it('re-renders only the rows a change touches: a selection renders the two rows it moves between', async () => {
    const clickRow = (index: number) =>
      page.evaluate(async (at) => {
        const renders = (window as unknown as { __rowRenders: string[][] }).__rowRenders;
        const before = renders.length;
        const row = document.querySelectorAll<HTMLElement>('[data-testid="member-row"]')[at]!;
        row.click();
        // A click is a discrete event: React commits it in a microtask, before any message of
        // the event stream (a task) can bring a delta; its commit is the first one after.
        await new Promise((resolve) => setTimeout(resolve, 0));
        return { id: row.dataset.id, rendered: renders[before] ?? [] };
      }, index);
    const visible = await rows().count();
    expect(visible).toBeGreaterThan(10);
    const first = await clickRow(2);
    expect(first.rendered).toEqual([first.id]);
    const second = await clickRow(5);
    expect(new Set(second.rendered)).toEqual(new Set([first.id, second.id]));
  });
});
