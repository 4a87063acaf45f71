import { mkdir } from 'node:fs/promises';

import type { Locator, Page } from 'playwright-core';

/** Where the end-to-end tests save what the browser showed. */
export const SCREENSHOTS = 'test-results/screenshots';

/** One node's bar of a registry in the Registries panel, as the page draws it. */
export interface PanelBar {
  node: string;
  /** Null when the node cannot count what it hosts. */
  hosted: number | null;
  /** The node's copy size. */
  count: number;
  main: boolean;
  /** The figure drawn beside the bar. */
  text: string;
}

/** One registry of the Registries panel. */
export interface PanelRegistry {
  registry: string;
  replicated: boolean;
  total: number;
  hostedTotal: number | null;
  invariant: 'holds' | 'broken' | 'unchecked';
  bars: PanelBar[];
}

/** One registry figure in a row of the membership table. */
export interface MemberRegistryFigure {
  node: string;
  registry: string;
  hosted: number | null;
  count: number;
  /** What the cell shows, and what its hover says. */
  text: string;
  title: string;
}

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

  /**
   * Opens the newest summary event of `kind` (a partition, a mass join) and returns its lists, as
   * fetched from the server on opening.
   */
  async openTimelineEvent(kind: string): Promise<Locator> {
    const event = this.timelineEvents(kind).first();
    await event.locator('[data-testid="timeline-expand"]').click();
    return event.locator('[data-testid="event-details"]');
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

  /** The cluster id the page shows. */
  async clusterId(): Promise<string> {
    return (await this.page.getByTestId('dashboard').getAttribute('data-cluster')) ?? '';
  }

  registriesPanel(): Locator {
    return this.page.getByTestId('registries-panel');
  }

  /** Every registry card of the panel with its bars, read from what the page drew. */
  registries(): Promise<PanelRegistry[]> {
    return this.page.getByTestId('registry').evaluateAll((cards) =>
      cards.map((card) => {
        const number = (value: string | null) => (value ? Number(value) : null);
        return {
          registry: card.getAttribute('data-registry') ?? '',
          replicated: card.getAttribute('data-replicated') === 'true',
          total: Number(card.getAttribute('data-total')),
          hostedTotal: number(card.getAttribute('data-hosted-total')),
          invariant: card.getAttribute('data-invariant') as PanelRegistry['invariant'],
          bars: [...card.querySelectorAll('[data-testid="registry-bar"]')].map((bar) => ({
            node: bar.getAttribute('data-node') ?? '',
            hosted: number(bar.getAttribute('data-hosted')),
            count: Number(bar.getAttribute('data-count')),
            main: bar.getAttribute('data-main') === 'true',
            text: bar.querySelector('[data-testid="registry-bar-value"]')?.textContent ?? '',
          })),
        };
      }),
    );
  }

  /** Every registry figure of the membership table, row by row. */
  memberRegistryFigures(): Promise<MemberRegistryFigure[]> {
    return this.memberRows().evaluateAll((rows) =>
      rows.flatMap((row) =>
        [...row.querySelectorAll('[data-testid="member-registry"]')].map((figure) => ({
          node: row.getAttribute('data-node') ?? '',
          registry: figure.getAttribute('data-registry') ?? '',
          hosted: figure.getAttribute('data-hosted')
            ? Number(figure.getAttribute('data-hosted'))
            : null,
          count: Number(figure.getAttribute('data-count')),
          text: figure.querySelector('[data-testid="member-registry-hosted"]')?.textContent ?? '',
          title: figure.getAttribute('title') ?? '',
        })),
      ),
    );
  }

  drawer(): Locator {
    return this.page.getByTestId('node-drawer');
  }

  /** Saves a full-page screenshot under {@link SCREENSHOTS}, or of `element` alone. */
  async screenshot(name: string, element?: Locator): Promise<string> {
    await mkdir(SCREENSHOTS, { recursive: true });
    const path = `${SCREENSHOTS}/${name}.png`;
    // Let the entering marks finish their animation.
    await this.page.waitForTimeout(900);
    if (element) {
      // A clip of the full page, not element.screenshot(): scrolled to, the element would sit
      // under the sticky top bar.
      const clip = await element.evaluate((node) => {
        const box = node.getBoundingClientRect();
        return { x: box.x + scrollX, y: box.y + scrollY, width: box.width, height: box.height };
      });
      await this.page.screenshot({ path, fullPage: true, clip });
    } else {
      await this.page.screenshot({ path, fullPage: true });
    }
    return path;
  }
}
