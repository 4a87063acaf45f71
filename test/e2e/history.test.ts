import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import type { ClusterSnapshot, HistoryStatusResponse, TimelinePageResponse } from '@/lib/api';

import { DashboardPage } from './pages/dashboard-page';
import { TimeScrubberPage } from './pages/time-scrubber';
import {
  freePort,
  startDashboard,
  startSandbox,
  type RunningDashboard,
  type RunningSandbox,
} from './support/app';
import { launchChromium } from './support/browser';

const CLUSTER = 'sandbox';

/**
 * The sandbox's configuration with a history recorded in SQLite beside it. `beamscope sandbox`
 * writes one already; an older sandbox's file gets the section here, so the test never runs
 * against the in-memory store, whose history a restart would lose.
 */
async function recordingConfig(sandbox: RunningSandbox): Promise<string> {
  const config = parse(await readFile(sandbox.config, 'utf8')) as Record<string, unknown>;
  if (config.history) return sandbox.config;
  const path = join(dirname(sandbox.config), 'beamscope-history.yaml');
  await writeFile(path, stringify({ ...config, history: { store: 'sqlite', path: './history' } }));
  return path;
}

/** The members of each side of the graph, as node names, read from what the page drew. */
async function drawnSides(page: Page): Promise<string[][]> {
  const nodeOf = new Map(
    await page
      .getByTestId('member-row')
      .evaluateAll((rows) =>
        rows.map((row): [string, string] => [
          row.getAttribute('data-key') ?? '',
          row.getAttribute('data-node') ?? '',
        ]),
      ),
  );
  const groups = new Map<string, string[]>();
  const marks = await page
    .getByTestId('graph-member')
    .evaluateAll((items) =>
      items.map((item): [string, string] => [
        item.getAttribute('data-key') ?? '',
        item.getAttribute('data-group') ?? '',
      ]),
    );
  for (const [key, group] of marks) {
    const side = groups.get(group) ?? [];
    side.push(nodeOf.get(key) ?? key);
    groups.set(group, side);
  }
  return normalise([...groups.values()]);
}

const normalise = (sides: string[][]) =>
  sides
    .map((side) => [...side].sort())
    .sort((a, b) => b.length - a.length || (a[0]! < b[0]! ? -1 : 1));

describe('the dashboard in time: the demo scenario, a restart, and the partition found again', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let configPath: string;
  let port: number;
  let browser: Browser;
  let closeBrowser: () => Promise<void> = async () => undefined;
  let page: Page;
  let view: DashboardPage;
  let time: TimeScrubberPage;
  /** The two sides the live API reported while the cluster was split. */
  let liveSides: string[][] = [];
  /** When the server's live state showed those two sides: the hold that follows keeps them. */
  let liveSidesAt = 0;

  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${dashboard.url}/api/clusters/${CLUSTER}${path}`);
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  const pods = () => sandbox.pods();

  beforeAll(async () => {
    sandbox = await startSandbox(3);
    configPath = await recordingConfig(sandbox);
    port = await freePort();
    dashboard = await startDashboard(configPath, port);
    ({ browser, close: closeBrowser } = await launchChromium());
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    view = new DashboardPage(page);
    time = new TimeScrubberPage(page);
  });

  afterAll(async () => {
    await closeBrowser();
    await dashboard?.stop();
    await sandbox?.stop();
  });

  it('records the demo scenario: scale up, kill a node, partition, heal, scale down', async () => {
    await view.open(dashboard.url, CLUSTER);
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 30_000 }).toBe(3);
    await expect.poll(() => time.historyStatus().getAttribute('data-state')).toBe('ok');
    expect(await time.historyStatus().getAttribute('data-store')).toBe('sqlite');

    await sandbox.control('POST', '/scale', { replicas: 5 });
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 45_000 }).toBe(5);

    const victim = (await pods()).find((pod) => pod.ip === '10.244.0.3')!;
    await sandbox.control('POST', `/pods/${victim.name}/kill`);
    await expect
      .poll(() => view.timelineEvents('node_down').count(), { timeout: 20_000 })
      .toBeGreaterThan(0);
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 60_000 }).toBe(5);

    const all = await pods();
    const names = (ips: string[]) =>
      all.filter((pod) => ips.includes(pod.ip)).map((pod) => pod.name);
    await sandbox.control('POST', '/partition', {
      sides: [
        names(['10.244.0.2', '10.244.0.3']),
        names(['10.244.0.4', '10.244.0.5', '10.244.0.6']),
      ],
    });
    await expect
      .poll(() => view.summary('partitions').textContent(), { timeout: 20_000 })
      .toContain('2 partitions');
    // The summary can show two partitions while the split is still forming: wait for its sides.
    let splitSnapshot = await api<ClusterSnapshot>('');
    await expect
      .poll(
        async () => normalise((splitSnapshot = await api<ClusterSnapshot>('')).state.partitions),
        { timeout: 20_000 },
      )
      .toEqual([
        ['myapp@10.244.0.4', 'myapp@10.244.0.5', 'myapp@10.244.0.6'],
        ['myapp@10.244.0.2', 'myapp@10.244.0.3'],
      ]);
    liveSides = normalise(splitSnapshot.state.partitions);
    liveSidesAt = splitSnapshot.state.at;
    expect(liveSides).toEqual([
      ['myapp@10.244.0.4', 'myapp@10.244.0.5', 'myapp@10.244.0.6'],
      ['myapp@10.244.0.2', 'myapp@10.244.0.3'],
    ]);
    // Held long enough to be easy to land on with the mouse.
    await page.waitForTimeout(12_000);

    await sandbox.control('POST', '/heal');
    await expect
      .poll(() => view.summary('partitions').textContent(), { timeout: 30_000 })
      .toContain('1 partition');
    await sandbox.control('POST', '/scale', { replicas: 3 });
    await expect.poll(() => view.memberRows().count(), { timeout: 45_000 }).toBe(3);
    await view.screenshot('history-recorded-live');
  }, 240_000);

  it('after a restart of the server, the history is still there and the unobserved span is marked', async () => {
    await dashboard.stop();
    dashboard = await startDashboard(configPath, port);
    await view.open(dashboard.url, CLUSTER);
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 30_000 }).toBe(3);
    await expect.poll(() => time.historyStatus().getAttribute('data-state')).toBe('ok');

    // The restart is an explicit gap, in the record and on the track.
    // The recorder tells the gap once its store has opened and says where the record stopped,
    // and writes it with its next batch (every second): it can follow the first frames.
    const gapEvents = () =>
      api<TimelinePageResponse>('/timeline?kind=observation_gap&limit=10').then(
        (page) => page.events,
      );
    await expect
      .poll(async () => (await gapEvents()).length, { timeout: 15_000 })
      .toBeGreaterThan(0);
    const gaps = { events: await gapEvents() };
    expect(gaps.events[0]!.gap!.to).toBeGreaterThan(gaps.events[0]!.gap!.from);
    await expect.poll(() => time.tickMoments('gap'), { timeout: 30_000 }).not.toEqual([]);
    await expect.poll(() => time.tickMoments('partition'), { timeout: 30_000 }).not.toEqual([]);
    await expect.poll(() => time.tickMoments('heal'), { timeout: 30_000 }).not.toEqual([]);
    const status = await api<HistoryStatusResponse>('/history');
    expect(status.retained).not.toBeNull();
    await view.screenshot('history-after-restart', time.bar());
  }, 90_000);

  it('drags the scrubber back to the partition: the whole page shows the two sides', async () => {
    // The ticks are there, split before heal; the moment to land on is one the live page was
    // seen to show as two sides (a split can pass through a moment of three while the links of
    // one node still drop, and its 3 → 2 is a heal tick of its own), inside the 12 s hold.
    const [split] = await time.tickMoments('partition');
    const healed = (await time.tickMoments('heal')).find((moment) => moment > split!)!;
    expect(healed).toBeGreaterThan(split!);
    const holdEnds = liveSidesAt + 12_000;
    await time.dragTo(liveSidesAt + 6_000);

    await expect.poll(() => time.banner().isVisible(), { timeout: 15_000 }).toBe(true);
    expect(await page.getByTestId('viewing-text').textContent()).toMatch(
      /^viewing \d\d:\d\d:\d\d$|^viewing \d+ \w+ .*\d\d:\d\d:\d\d$/,
    );
    const shown = (await time.shownMoment())!;
    expect(shown).toBeGreaterThan(liveSidesAt);
    expect(shown).toBeLessThan(holdEnds);
    expect(new URL(page.url()).searchParams.get('at')).toBe(new Date(shown).toISOString());

    await expect
      .poll(() => view.summary('partitions').textContent(), { timeout: 15_000 })
      .toContain('2 partitions');
    await expect.poll(() => view.graphPartitions()).toBe(2);
    await expect.poll(() => view.memberRows().count()).toBe(5);
    await expect.poll(() => drawnSides(page)).toEqual(liveSides);

    // The drawer too: a node of the small side sees its partner and not the other side.
    await view.memberRow('10.244.0.2').click();
    const peers = view.drawer().getByTestId('peers');
    await expect
      .poll(() => peers.locator('li[data-seen="true"]').allTextContents())
      .toEqual([expect.stringContaining('myapp@10.244.0.3')]);
    await view.screenshot('history-viewing-partition');
    await page.keyboard.press('Escape');

    // The moment can be shared: the same URL in another tab shows the same sides.
    const shared = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    try {
      const other = new DashboardPage(shared);
      await shared.goto(page.url());
      await shared.getByTestId('dashboard').waitFor({ timeout: 20_000 });
      expect(await shared.getByTestId('dashboard').getAttribute('data-at')).toBe(String(shown));
      await expect
        .poll(() => other.summary('partitions').textContent(), { timeout: 15_000 })
        .toContain('2 partitions');
      await expect.poll(() => drawnSides(shared)).toEqual(liveSides);
    } finally {
      await shared.close();
    }
  }, 90_000);

  it('goes back to live without a reload: one partition, three members, the link live', async () => {
    await page.evaluate(() => {
      (window as unknown as { sameDocument: boolean }).sameDocument = true;
    });
    await time.backToLive();
    await expect.poll(() => time.banner().count()).toBe(0);
    await expect
      .poll(() => view.summary('partitions').textContent(), { timeout: 15_000 })
      .toContain('1 partition');
    await expect.poll(() => view.memberRows().count()).toBe(3);
    await expect.poll(() => view.linkState().getAttribute('data-state')).toBe('live');
    expect(new URL(page.url()).searchParams.has('at')).toBe(false);
    expect(
      await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument),
    ).toBe(true);

    // The live stream resumed: a change now still reaches the page.
    await sandbox.control('POST', '/scale', { replicas: 4 });
    await expect.poll(() => view.memberRows().count(), { timeout: 45_000 }).toBe(4);
  }, 90_000);

  it('a link to a moment outside the history says so, with the range, and offers live', async () => {
    const status = await api<HistoryStatusResponse>('/history');
    const before = status.retained!.from - 3_600_000;
    await page.goto(`${dashboard.url}/clusters/${CLUSTER}?at=${before}`);
    const problem = page.getByTestId('past-problem');
    await problem.waitFor({ timeout: 20_000 });
    // The range comes from the history status, which the page may read after it shows the box.
    await expect
      .poll(() => page.getByTestId('past-problem-range').textContent(), { timeout: 20_000 })
      .toContain('History covers');
    await view.screenshot('history-outside-retention');
    await page.getByTestId('problem-live').click();
    await page.getByTestId('dashboard').waitFor({ timeout: 15_000 });
    await expect.poll(() => problem.count()).toBe(0);
    await expect.poll(() => view.memberRows().count()).toBe(4);
  }, 60_000);
});
