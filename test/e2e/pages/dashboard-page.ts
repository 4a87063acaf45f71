import { mkdir } from 'node:fs/promises';

import type { Locator, Page } from 'playwright-core';

/** Where the end-to-end tests save what the browser showed. */
export const SCREENSHOTS = 'test-results/screenshots';

/** A cluster's dashboard at `/clusters/{id}`, as an operator sees it. */
export class DashboardPage {
  constructor(readonly page: Page) {}

  /** Opens `/` (which opens the only cluster's dashboard) or a cluster's page directly. */
  async open(baseUrl: string, clusterId?: string): Promise<void> {
    await this.page.goto(clusterId ? `${baseUrl}/clusters/${clusterId}` : baseUrl);
    await this.page.getByTestId('dashboard').waitFor({ timeout: 15_000 });
  }

  /** The `<canvas>` the graph engine draws on; `data-nodes` counts the marks drawn. */
  graphCanvas(): Locator {
    return this.page.getByTestId('topology-canvas');
  }

  /** The marks of the graph, through its accessible list (one entry per mark drawn). */
  graphMembers(state?: string): Locator {
    return this.page.locator(
      state
        ? `[data-testid="graph-member"][data-state="${state}"]`
        : '[data-testid="graph-member"]',
    );
  }

  /** How many partitions the graph draws as groups. */
  async graphPartitions(): Promise<number> {
    return Number(await this.page.getByTestId('topology').getAttribute('data-partitions'));
  }

  /** The distinct groups the graph's marks are drawn in. */
  async graphGroups(): Promise<number> {
    const groups = await this.graphMembers().evaluateAll((items) =>
      items.map((item) => item.getAttribute('data-group')),
    );
    return new Set(groups).size;
  }

  async drawnNodes(): Promise<number> {
    return Number(await this.graphCanvas().getAttribute('data-nodes'));
  }

  memberRows(): Locator {
    return this.page.getByTestId('member-row');
  }

  memberRow(ip: string): Locator {
    return this.page.locator(`[data-testid="member-row"][data-ip="${ip}"]`);
  }

  summary(name: 'pods' | 'nodes' | 'partitions' | 'registries' | 'otp'): Locator {
    return this.page.getByTestId(`summary-${name}`);
  }

  linkState(): Locator {
    return this.page.getByTestId('link-state');
  }

  timelineEvents(kind?: string): Locator {
    return this.page.locator(
      kind
        ? `[data-testid="timeline-event"][data-kind="${kind}"]`
        : '[data-testid="timeline-event"]',
    );
  }

  /** Asks "where is `name`?" and returns the matches' locator. */
  async lookup(name: string): Promise<Locator> {
    await this.page.getByTestId('lookup-input').fill(name);
    await this.page.getByRole('button', { name: 'Look up' }).click();
    return this.page.getByTestId('lookup-match');
  }

  drawer(): Locator {
    return this.page.getByTestId('node-drawer');
  }

  /** Saves a full-page screenshot under {@link SCREENSHOTS}. */
  async screenshot(name: string): Promise<string> {
    await mkdir(SCREENSHOTS, { recursive: true });
    const path = `${SCREENSHOTS}/${name}.png`;
    // Let the entering marks finish their animation.
    await this.page.waitForTimeout(900);
    await this.page.screenshot({ path, fullPage: true });
    return path;
  }
}
