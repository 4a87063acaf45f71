import type { Locator, Page } from 'playwright-core';

/** The cluster overview at `/`, as an operator sees it. */
export class OverviewPage {
  constructor(readonly page: Page) {}

  async open(baseUrl: string): Promise<void> {
    await this.page.goto(baseUrl);
  }

  cluster(id: string): Locator {
    return this.page.locator(`[data-testid="cluster"][data-cluster="${id}"]`);
  }

  memberRows(clusterId: string): Locator {
    return this.cluster(clusterId).getByTestId('member-row');
  }

  memberRow(clusterId: string, ip: string): Locator {
    return this.cluster(clusterId).locator(`[data-testid="member-row"][data-ip="${ip}"]`);
  }

  readyCount(clusterId: string): Locator {
    return this.cluster(clusterId).getByTestId('ready-count');
  }

  kubernetesStatus(clusterId: string): Locator {
    return this.cluster(clusterId).getByTestId('kubernetes-status');
  }
}
